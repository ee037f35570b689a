//! `ferry account …`, `ferry forgot-password` and `ferry reset-password`: one's own
//! account from the terminal (its profile, password, email address, sessions, settings,
//! deleting it), and getting back into it by mail. Passwords come from the environment
//! (`FERRY_PASSWORD`, and `FERRY_NEW_PASSWORD` for a new one), from standard input (one
//! per line, the current one first) or from a prompt, never from the command line.

use std::io::{BufRead, IsTerminal};

use anyhow::{Result, bail};
use clap::Subcommand;
use ferry_client::{Client, forgot_password, reset_password};
use ferry_proto::{Account, SessionId, SessionInfo};
use serde_json::json;

use crate::print::{emit, printable};
use crate::{Cli, options};

/// What `ferry account` does.
#[derive(Subcommand)]
pub enum AccountCommand {
    /// Your account: name, address, role, settings (the default).
    Show,
    /// Change the name others see.
    Rename {
        /// The new display name.
        name: String,
    },
    /// Change your password (asks for the current one, then the new one). Your other
    /// devices are signed out unless you keep them.
    Password {
        /// Keep your other devices signed in.
        #[arg(long)]
        keep_sessions: bool,
    },
    /// Set your email address (a code is mailed to it to confirm it), or remove it.
    Email {
        /// The address.
        #[arg(required_unless_present = "remove")]
        address: Option<String>,
        /// Remove the address instead.
        #[arg(long, conflicts_with = "address")]
        remove: bool,
    },
    /// Confirm your email address with the code mailed to it.
    VerifyEmail {
        /// The code (or the whole link) from the mail.
        code: String,
    },
    /// Where you are signed in.
    Sessions,
    /// Sign one of your sessions out (its id, as `sessions` shows it).
    EndSession {
        /// The session's id.
        session: SessionId,
    },
    /// Whether unread direct messages are mailed to you when none of your devices was
    /// online for a while.
    MissedMail {
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Set your profile picture from an image file (the server keeps its middle square),
    /// or remove it.
    Picture {
        /// The image (JPEG, PNG, GIF or WebP).
        #[arg(required_unless_present = "remove")]
        file: Option<std::path::PathBuf>,
        /// Remove your picture instead.
        #[arg(long, conflicts_with = "file")]
        remove: bool,
    },
    /// Download everything the server holds about you (account, sessions, conversations,
    /// your messages, your files) into FILE, a tar archive whose ferry-export.json lists
    /// what it holds.
    Export {
        /// Where to save it (e.g. ferry-export.tar).
        file: std::path::PathBuf,
    },
    /// Delete your account for good: your messages are deleted for everyone, and every
    /// device is signed out (asks for your password).
    Delete {
        /// Yes, really.
        #[arg(long)]
        yes: bool,
    },
}

/// Runs `ferry account …`.
pub async fn account(cli: &Cli, client: &Client, command: &AccountCommand) -> Result<()> {
    let handle = client.account();
    match command {
        AccountCommand::Show => show(cli, &handle.details().await?),
        AccountCommand::Rename { name } => {
            let user = handle.rename(name).await?;
            done(cli, &format!("you are now {}", user.display_name));
        }
        AccountCommand::Password { keep_sessions } => {
            let current = secret("FERRY_PASSWORD", "Current password: ")?;
            let new = new_password()?;
            handle
                .change_password(&current, &new, *keep_sessions)
                .await?;
            done(
                cli,
                if *keep_sessions {
                    "password changed"
                } else {
                    "password changed; your other devices are signed out"
                },
            );
        }
        AccountCommand::Email { address, remove } => {
            let password = secret("FERRY_PASSWORD", "Password: ")?;
            let address = if *remove { None } else { address.as_deref() };
            let account = handle.set_email(address, &password).await?;
            match &account.email {
                Some(email) => done(
                    cli,
                    &format!("a code is on its way to {email}: `ferry account verify-email CODE`"),
                ),
                None => done(cli, "address removed"),
            }
        }
        AccountCommand::VerifyEmail { code } => {
            handle.verify_email(code_of(code)).await?;
            done(cli, "address confirmed");
        }
        AccountCommand::Sessions => sessions(cli, &handle.sessions().await?),
        AccountCommand::EndSession { session } => {
            handle.end_session(*session).await?;
            done(cli, "signed out there");
        }
        AccountCommand::MissedMail { state } => {
            handle.set_missed_message_mail(state == "on").await?;
            done(cli, &format!("missed-message mail {state}"));
        }
        AccountCommand::Picture { file, remove } => match (file, remove) {
            (Some(file), false) => {
                handle.set_picture(file).await?;
                done(cli, "picture set; your contacts see it");
            }
            _ => {
                handle.remove_picture().await?;
                done(cli, "picture removed");
            }
        },
        AccountCommand::Export { file } => {
            let json = cli.json;
            let mut shown = 0u64;
            let bytes = handle
                .export(file, |received, total| {
                    // A line per tenth, on standard error: the output stays the result.
                    let step = (total / 10).max(1);
                    if !json && (received == total || received >= shown + step) {
                        shown = received;
                        eprintln!("exporting: {received} of {total} bytes");
                    }
                })
                .await?;
            if cli.json {
                emit(json!({"exported": file, "bytes": bytes}));
            } else {
                println!("exported your data to {} ({bytes} bytes)", file.display());
            }
        }
        AccountCommand::Delete { yes } => {
            if !yes {
                bail!(
                    "this deletes your account and every message you sent, for everyone; \
                     run `ferry account delete --yes` if you mean it"
                );
            }
            let password = secret("FERRY_PASSWORD", "Password: ")?;
            handle.delete(&password).await?;
            done(cli, "account deleted; this device is signed out");
        }
    }
    Ok(())
}

/// `ferry forgot-password LOGIN`.
pub async fn forgot(cli: &Cli, server: &str, login: &str) -> Result<()> {
    forgot_password(&options(cli, server)?, login).await?;
    done(
        cli,
        "if that account has a confirmed address, a code is on its way: \
         `ferry reset-password CODE`",
    );
    Ok(())
}

/// `ferry reset-password CODE`.
pub async fn reset(cli: &Cli, server: &str, code: &str) -> Result<()> {
    let new = new_password()?;
    reset_password(&options(cli, server)?, code_of(code), &new).await?;
    done(
        cli,
        "password changed; sign in with it: `ferry login USERNAME`",
    );
    Ok(())
}

/// The code of a mailed link, or the code itself.
fn code_of(given: &str) -> &str {
    given
        .rsplit_once("token=")
        .map_or(given, |(_, code)| code)
        .trim()
}

/// A secret from the environment variable `var`, else a line of standard input when it
/// is not a terminal, else a prompt.
fn secret(var: &str, prompt: &str) -> Result<String> {
    if let Ok(value) = std::env::var(var) {
        return Ok(value);
    }
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    Ok(rpassword::prompt_password(prompt)?)
}

/// A new password, typed twice at a prompt (once from elsewhere).
fn new_password() -> Result<String> {
    let new = secret("FERRY_NEW_PASSWORD", "New password: ")?;
    if std::env::var("FERRY_NEW_PASSWORD").is_err() && std::io::stdin().is_terminal() {
        let again = rpassword::prompt_password("New password again: ")?;
        if again != new {
            bail!("the two passwords differ");
        }
    }
    Ok(new)
}

fn done(cli: &Cli, what: &str) {
    crate::print::done(cli, what);
}

fn show(cli: &Cli, account: &Account) {
    if cli.json {
        emit(json!(account));
        return;
    }
    let user = &account.user;
    println!("{} ({})", printable(&user.display_name), user.username);
    match &account.email {
        Some(email) if account.email_verified => println!("email: {email}"),
        Some(email) => println!("email: {email} (not confirmed yet)"),
        None => println!("email: none"),
    }
    match user.picture {
        Some(_) => println!("picture: set (`ferry account picture --remove` takes it off)"),
        None => println!("picture: none (`ferry account picture FILE` sets one)"),
    }
    if account.admin {
        println!("you administer this server");
    }
    let mail = account.settings.missed_message_mail.unwrap_or(true);
    println!("missed-message mail: {}", if mail { "on" } else { "off" });
}

fn sessions(cli: &Cli, sessions: &[SessionInfo]) {
    for s in sessions {
        if cli.json {
            emit(json!(s));
            continue;
        }
        let this = if s.current { "  (this device)" } else { "" };
        println!(
            "{}  {}  last used {} from {}{this}",
            s.id,
            printable(s.device_name.as_deref().unwrap_or("unnamed device")),
            s.last_used_at,
            printable(s.last_place.as_deref().unwrap_or("somewhere")),
        );
    }
}
