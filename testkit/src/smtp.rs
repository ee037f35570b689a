//! A real SMTP server for the mail tests: [`SmtpSink`] runs aiosmtpd (from PyPI;
//! `scripts/test.sh` installs it) on a loopback port of the test's own, storing every
//! mail it is given in a Maildir the test reads ([`SmtpSink::mail_to`]). Killed on drop.
//! [`smtp_config`] points a server's configuration at it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;

use ferry_server::Config;
use mail_parser::MessageParser;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::wait::within;

/// Starts aiosmtpd's controller (which returns once the server accepts connections),
/// says so, prints a line for each mail it stored, and serves until its standard input
/// closes.
const SINK: &str = "\
import sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
class Telling(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        status = await super().handle_DATA(server, session, envelope)
        print('mail', flush=True)
        return status
controller = Controller(Telling(sys.argv[1]), hostname='127.0.0.1', port=int(sys.argv[2]))
controller.start()
print('ready', flush=True)
sys.stdin.read()
controller.stop()
";

/// One mail as received.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// The `To` address.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// The plain text, decoded.
    pub body: String,
}

/// An SMTP server of the test's own.
pub struct SmtpSink {
    _child: Child,
    /// Its output: a line per mail stored.
    told: Lines<BufReader<ChildStdout>>,
    /// Mails already handed out by [`SmtpSink::expect_mail`], per address.
    taken: HashMap<String, usize>,
    dir: TempDir,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl SmtpSink {
    /// Starts one on a free port and waits until it takes mail.
    pub async fn start() -> Self {
        let addr = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let dir = tempfile::tempdir().expect("a mailbox folder");
        let mut child = Command::new("python3")
            .args(["-c", SINK])
            .arg(dir.path().join("mail"))
            .arg(addr.port().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 with aiosmtpd (scripts/test.sh installs it with pip)");
        let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        within("the SMTP sink to be ready", async {
            match out.next_line().await.expect("read the SMTP sink's output") {
                Some(line) if line == "ready" => {}
                other => panic!("the SMTP sink did not start: {other:?}"),
            }
        })
        .await;
        Self {
            _child: child,
            told: out,
            taken: HashMap::new(),
            dir,
            addr,
        }
    }

    /// The next mail to `address` not handed out yet, waiting for it to arrive (with the
    /// harness's timeout).
    pub async fn expect_mail(&mut self, address: &str) -> ReceivedMail {
        let key = address.to_ascii_lowercase();
        let taken = self.taken.get(&key).copied().unwrap_or(0);
        let Self { told, dir, .. } = self;
        let mail = within(&format!("a mail to {address}"), async {
            loop {
                if let Some(mail) = read_maildir(dir)
                    .into_iter()
                    .filter(|m| m.to.eq_ignore_ascii_case(address))
                    .nth(taken)
                {
                    return mail;
                }
                match told.next_line().await.expect("read the SMTP sink's output") {
                    Some(_) => {}
                    None => panic!("the SMTP sink stopped"),
                }
            }
        })
        .await;
        self.taken.insert(key, taken + 1);
        mail
    }

    /// `smtp://host:port`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every mail received so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        read_maildir(&self.dir)
    }

    /// The mails received so far for `address`.
    pub fn mail_to(&self, address: &str) -> Vec<ReceivedMail> {
        self.received()
            .into_iter()
            .filter(|m| m.to.eq_ignore_ascii_case(address))
            .collect()
    }
}

/// The mails in the sink's Maildir, oldest first.
fn read_maildir(dir: &TempDir) -> Vec<ReceivedMail> {
    let mut mails = Vec::new();
    for sub in ["new", "cur"] {
        let folder: PathBuf = dir.path().join("mail").join(sub);
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let raw = std::fs::read(entry.path()).expect("read a mail");
            let parsed = MessageParser::default()
                .parse(&raw)
                .expect("a mail aiosmtpd stored parses");
            // Maildir names start with the time too: they break ties of a coarse clock.
            let when = (
                entry.metadata().and_then(|m| m.modified()).ok(),
                entry.file_name(),
            );
            mails.push((
                when,
                ReceivedMail {
                    to: parsed
                        .to()
                        .and_then(|to| to.first())
                        .and_then(|a| a.address())
                        .unwrap_or_default()
                        .to_owned(),
                    subject: parsed.subject().unwrap_or_default().to_owned(),
                    body: parsed.body_text(0).unwrap_or_default().into_owned(),
                },
            ));
        }
    }
    mails.sort_by(|(a, _), (b, _)| a.cmp(b));
    mails.into_iter().map(|(_, mail)| mail).collect()
}

/// Points `config` at `sink` for its mail.
pub fn smtp_config(config: &mut Config, sink: &SmtpSink) {
    config.smtp_url = Some(sink.url());
    config.mail_from = "Ferry <ferry@example.com>".into();
}

/// The code a mailed link carries (`…?token=CODE`).
pub fn code_in(mail: &ReceivedMail) -> String {
    let start = mail.body.find("token=").expect("a link with a token") + "token=".len();
    mail.body[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}
