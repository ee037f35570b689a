//! The `ferry` binary as a person uses it from the README: two terminals (two data
//! directories) chatting through one server, offline queueing, search, sign-out, and
//! clear errors. Tokens go to the real OS keyring (the test script provides a Secret
//! Service session on Linux).

use std::path::PathBuf;
use std::process::Stdio;

use ferry_testkit::{Served, TestDb, TestServer, noise, test_config, within};
#[cfg(target_os = "linux")]
use ferry_testkit::{SmtpSink, code_in, smtp_config};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// One terminal: `ferry` with its own data directory.
struct Terminal {
    dir: PathBuf,
    server: String,
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Terminal {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
        command
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .env("FERRY_SERVER", &self.server)
            .env_remove("FERRY_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    async fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = self.command(args).spawn().expect("spawn ferry");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.as_bytes())
            .await
            .expect("write stdin");
        drop(stdin);
        let out = within(&format!("ferry {args:?}"), child.wait_with_output())
            .await
            .expect("run");
        Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `register NAME` with the test's password, which must succeed.
    async fn register(&self, name: &str) {
        let signed = self
            .run_with_input(
                &["register", name, "--password-stdin"],
                "correct horse battery\n",
            )
            .await;
        assert!(signed.ok, "register: {}", signed.stderr);
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with_input(args, "").await
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.ok,
            "ferry {args:?} failed: {}{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    async fn json(&self, args: &[&str]) -> Vec<Value> {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        self.ok(&full)
            .await
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    fn watch(&self) -> (Child, Lines<BufReader<ChildStdout>>) {
        let mut child = self
            .command(&["--json", "watch"])
            .spawn()
            .expect("spawn watch");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        (child, lines)
    }
}

/// A server on a fresh SQLite file, kept with the terminals' homes for a test's length.
struct Scene {
    server: TestServer,
    _db: TestDb,
    _homes: tempfile::TempDir,
}

/// A server and one registered terminal per name, each with its own data directory.
async fn registered<const N: usize>(names: [&str; N]) -> (Scene, [Terminal; N]) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let homes = tempfile::tempdir().expect("dir");
    let terminals = names.map(|name| Terminal {
        dir: homes.path().join(name),
        server: server.url(),
    });
    for (t, name) in terminals.iter().zip(names) {
        t.register(name).await;
    }
    let scene = Scene {
        server,
        _db: db,
        _homes: homes,
    };
    (scene, terminals)
}

/// Reads `watch --json` lines until one matches.
async fn next_matching(
    lines: &mut Lines<BufReader<ChildStdout>>,
    what: &str,
    pick: impl Fn(&Value) -> bool,
) -> Value {
    within(what, async {
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("watch ended before {what}"));
            let event: Value = serde_json::from_str(&line).expect("JSON event");
            if pick(&event) {
                return event;
            }
        }
    })
    .await
}

fn message_with(body: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["type"] == "message" && e["message"]["body"] == body && e["message"]["mine"] == false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_terminals_chat() {
    let db = TestDb::sqlite();
    let srv = TestServer::start(&db).await;
    let addr = srv.addr;
    let url = srv.url();
    let homes = tempfile::tempdir().expect("dir");
    let alice = Terminal {
        dir: homes.path().join("alice"),
        server: url.clone(),
    };
    let bob = Terminal {
        dir: homes.path().join("bob"),
        server: url.clone(),
    };

    let signed = alice
        .run_with_input(
            &[
                "register",
                "alice",
                "--display-name",
                "Alice A",
                "--password-stdin",
            ],
            "correct horse battery\n",
        )
        .await;
    assert!(signed.ok, "register: {}", signed.stderr);
    assert!(
        signed.stdout.contains("signed in as alice"),
        "{}",
        signed.stdout
    );
    let signed = bob
        .run_with_input(
            &[
                "register",
                "bob",
                "--display-name",
                "Bob B",
                "--password-stdin",
            ],
            "correct horse battery\n",
        )
        .await;
    assert!(signed.ok, "register: {}", signed.stderr);
    let taken = bob
        .run_with_input(
            &["register", "bob", "--password-stdin"],
            "another password\n",
        )
        .await;
    assert!(
        !taken.ok && taken.stderr.contains("taken"),
        "{}",
        taken.stderr
    );

    let (mut watch, mut events) = bob.watch();
    next_matching(&mut events, "bob online", |e| {
        e["type"] == "connection" && e["state"]["state"] == "online"
    })
    .await;

    let created = alice.ok(&["new", "bob"]).await;
    assert!(created.contains("Bob B"), "{created}");
    assert!(
        alice
            .ok(&["send", "bob", "hi bob"])
            .await
            .contains("sent (#1)")
    );
    next_matching(
        &mut events,
        "bob sees the message live",
        message_with("hi bob"),
    )
    .await;

    bob.ok(&["send", "alice", "hello back"]).await;
    let history = alice.json(&["open", "bob"]).await;
    let lines: Vec<(i64, &str)> = history
        .iter()
        .map(|m| {
            (
                m["seq"].as_i64().expect("seq"),
                m["body"].as_str().expect("body"),
            )
        })
        .collect();
    assert_eq!(lines, [(1, "hi bob"), (2, "hello back")]);

    // The server goes away: sending still works, and queues.
    srv.stop().await;
    let queued = alice.ok(&["send", "bob", "written offline"]).await;
    assert!(queued.contains("queued"), "{queued}");
    let status = alice.json(&["status"]).await;
    assert_eq!(
        (status[0]["online"].as_bool(), status[0]["outbox"].as_u64()),
        (Some(false), Some(1))
    );
    assert!(
        alice
            .ok(&["chats"])
            .await
            .contains("written offline (pending)"),
        "offline reads come from the store"
    );
    let offline_sync = alice.run(&["sync"]).await;
    assert!(
        !offline_sync.ok && offline_sync.stderr.contains("wait in the outbox"),
        "{}",
        offline_sync.stderr
    );

    // Back on the same address: one sync delivers it, and Bob's watch sees it.
    let srv = TestServer::start_at(test_config(&db), addr).await;
    assert!(alice.ok(&["sync"]).await.contains("sent 1"));
    next_matching(
        &mut events,
        "the queued message arrives",
        message_with("written offline"),
    )
    .await;

    let found = bob.ok(&["search", "writ offl"]).await;
    assert!(found.contains("[written] [offline]"), "{found}");

    // Clear errors, non-zero exits.
    let empty = alice.run(&["send", "bob", "   "]).await;
    assert!(
        !empty.ok && empty.stderr.contains("empty"),
        "{}",
        empty.stderr
    );
    let nobody = alice.run(&["open", "nobody"]).await;
    assert!(
        !nobody.ok && nobody.stderr.contains("no chat matches"),
        "{}",
        nobody.stderr
    );

    alice.ok(&["logout"]).await;
    let after = alice.run(&["chats"]).await;
    assert!(
        !after.ok && after.stderr.contains("not signed in"),
        "{}",
        after.stderr
    );
    let wrong = alice
        .run_with_input(
            &["login", "alice", "--password-stdin"],
            "not the password\n",
        )
        .await;
    assert!(
        !wrong.ok && wrong.stderr.contains("wrong username or password"),
        "{}",
        wrong.stderr
    );
    let back = alice
        .run_with_input(
            &["login", "alice", "--password-stdin"],
            "correct horse battery\n",
        )
        .await;
    assert!(back.ok, "{}", back.stderr);
    assert!(
        alice.ok(&["chats"]).await.contains("Bob B"),
        "history survives sign-out"
    );

    watch.start_kill().expect("stop watch");
    let _ = watch.wait().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_edit_react_and_delete_from_the_terminal() {
    let (scene, [alice, bob]) = registered(["alice", "bob"]).await;
    alice.ok(&["new", "bob"]).await;
    assert!(
        alice
            .ok(&["send", "bob", "lunch at noon?"])
            .await
            .contains("sent (#1)")
    );
    bob.ok(&["sync"]).await;

    // Bob replies to message #1 and reacts to it; Alice edits it ("last": her newest).
    let replied = bob.json(&["reply", "alice", "1", "noon works"]).await;
    assert_eq!(
        replied[0]["message"]["reply_to"],
        replied[0]["message"]["quote"]["id"]
    );
    let reacted = bob.json(&["react", "alice", "#1", "👍"]).await;
    assert_eq!(reacted[0]["message"]["reactions"][0]["emoji"], "👍");
    assert_eq!(reacted[0]["message"]["reactions"][0]["mine"], true);
    assert!(
        alice
            .ok(&["edit", "bob", "last", "lunch at 12:30?"])
            .await
            .contains("edited")
    );
    let refused = bob.run(&["edit", "alice", "1", "mine now"]).await;
    assert!(
        !refused.ok && refused.stderr.contains("only the author"),
        "{}",
        refused.stderr
    );

    bob.ok(&["sync"]).await;
    let page = bob.ok(&["open", "alice"]).await;
    assert!(page.contains("lunch at 12:30? (edited)  [👍 1]"), "{page}");
    assert!(page.contains("↪ #1 alice: lunch at 12:30?"), "{page}");
    assert!(page.contains("noon works"), "{page}");
    // Taken back with the same command.
    let toggled = bob.json(&["react", "alice", "1", "👍"]).await;
    assert_eq!(toggled[0]["message"]["reactions"], serde_json::json!([]));

    // Alice deletes it for everyone: Bob sees a placeholder, and search finds nothing.
    assert!(alice.ok(&["delete", "bob", "1"]).await.contains("deleted"));
    bob.ok(&["sync"]).await;
    let page = bob.ok(&["open", "alice"]).await;
    assert!(
        page.contains("#1") && page.contains("(message deleted)"),
        "{page}"
    );
    assert!(!page.contains("12:30"), "the text is gone: {page}");
    assert!(bob.json(&["search", "lunch"]).await.is_empty());
    let missing = bob.run(&["react", "alice", "7", "👍"]).await;
    assert!(
        !missing.ok && missing.stderr.contains("no message"),
        "{}",
        missing.stderr
    );
    scene.server.stop().await;
}

/// A door between a terminal and the server that can be shut: shut, it stops listening
/// and drops every connection through it, as a server that went away does (the client's
/// knocks are refused); opened again, it listens on the same port.
struct Gate {
    addr: std::net::SocketAddr,
    upstream: std::net::SocketAddr,
    /// The accept loop, which owns the listener and the connections through it.
    open: Option<tokio::task::JoinHandle<()>>,
}

impl Gate {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        Self {
            addr,
            upstream,
            open: Some(tokio::spawn(Self::forward(listener, upstream))),
        }
    }

    async fn forward(listener: tokio::net::TcpListener, upstream: std::net::SocketAddr) {
        // Dropped with the loop: every connection through the gate ends with it.
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut client, _)) = listener.accept().await {
            connections.spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn shut(&mut self) {
        if let Some(open) = self.open.take() {
            open.abort();
            let _ = open.await;
        }
    }

    async fn reopen(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("bind the gate's port again");
        self.open = Some(tokio::spawn(Self::forward(listener, self.upstream)));
    }
}

/// What `watch` printed after a reconnect: every message that arrived while it was cut
/// off, each once and in order, then live ones again (issue 32, item 10). More were
/// missed than `/sync` brings along per conversation, so part of them is fetched as
/// history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_what_it_caught_up_on() {
    const MISSED: usize = 25;
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let mut gate = Gate::start(server.addr).await;
    let homes = tempfile::tempdir().expect("dir");
    let alice = Terminal {
        dir: homes.path().join("alice"),
        server: server.url(),
    };
    // Bob reaches the server only through the gate.
    let bob = Terminal {
        dir: homes.path().join("bob"),
        server: gate.url(),
    };
    alice.register("alice").await;
    bob.register("bob").await;
    alice.ok(&["new", "bob"]).await;

    let (mut watch, mut events) = bob.watch();
    let online = |e: &Value| e["type"] == "connection" && e["state"]["state"] == "online";
    next_matching(&mut events, "bob online", online).await;
    alice.ok(&["send", "bob", "before the cut"]).await;
    next_matching(
        &mut events,
        "the message before the cut",
        message_with("before the cut"),
    )
    .await;

    gate.shut().await;
    next_matching(&mut events, "bob offline", |e| {
        e["type"] == "connection" && e["state"]["state"] == "offline"
    })
    .await;
    let missed: Vec<String> = (1..=MISSED).map(|n| format!("missed {n}")).collect();
    for text in &missed {
        alice.ok(&["send", "bob", text.as_str()]).await;
    }
    gate.reopen().await;

    // Everything from Alice up to a live message sent once Bob is back.
    let mut printed = Vec::new();
    within("bob to catch up", async {
        loop {
            let line = events.next_line().await.expect("read").expect("watch runs");
            let event: Value = serde_json::from_str(&line).expect("JSON event");
            if event["type"] == "message" && event["message"]["mine"] == false {
                printed.push(event["message"]["body"].as_str().expect("body").to_owned());
            }
            if online(&event) {
                return;
            }
        }
    })
    .await;
    alice.ok(&["send", "bob", "live again"]).await;
    within("the live message", async {
        loop {
            let line = events.next_line().await.expect("read").expect("watch runs");
            let event: Value = serde_json::from_str(&line).expect("JSON event");
            if event["type"] == "message" && event["message"]["mine"] == false {
                let body = event["message"]["body"].as_str().expect("body").to_owned();
                printed.push(body.clone());
                if body == "live again" {
                    return;
                }
            }
        }
    })
    .await;
    let mut expected = missed.clone();
    expected.push("live again".into());
    assert_eq!(printed, expected);

    watch.start_kill().expect("stop watch");
    let _ = watch.wait().await;
    server.stop().await;
}

/// A TCP proxy that counts what clients send through it, and once armed with a budget
/// stops forwarding (holding the connection open, silent) when the budget is spent: a
/// link that dies mid-upload.
struct Choke {
    addr: std::net::SocketAddr,
    state: std::sync::Arc<std::sync::Mutex<(usize, Option<usize>)>>,
}

impl Choke {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = std::sync::Arc::new(std::sync::Mutex::new((0usize, None::<usize>)));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let up = async {
                        let mut buffer = vec![0u8; 16 * 1024];
                        loop {
                            let n = client_read.read(&mut buffer).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            let open = {
                                let mut s = state.lock().expect("lock");
                                s.0 += n;
                                s.1.is_none_or(|budget| s.0 <= budget)
                            };
                            if !open {
                                // Dead from here: nothing more either way.
                                std::future::pending::<()>().await;
                            }
                            if server_write.write_all(&buffer[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let down = tokio::io::copy(&mut server_read, &mut client_write);
                    tokio::select! {
                        () = up => {}
                        _ = down => {}
                    }
                });
            }
        });
        Self { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Bytes forwarded so far, counting from now on; the link dies after `budget` more.
    fn arm(&self, budget: usize) {
        let mut s = self.state.lock().expect("lock");
        *s = (0, Some(budget));
    }

    /// The link works again (for new connections); returns what clients sent since armed.
    fn release(&self) -> usize {
        let mut s = self.state.lock().expect("lock");
        s.1 = None;
        s.0
    }

    fn sent(&self) -> usize {
        self.state.lock().expect("lock").0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_from_the_terminal() {
    let db = TestDb::sqlite();
    let srv = TestServer::start(&db).await;
    let choke = Choke::start(srv.addr()).await;
    let homes = tempfile::tempdir().expect("dir");
    // Alice's link goes through the choke; Bob's straight to the server.
    let alice = Terminal {
        dir: homes.path().join("alice"),
        server: choke.url(),
    };
    let bob = Terminal {
        dir: homes.path().join("bob"),
        server: srv.url(),
    };
    for (t, name) in [(&alice, "alice"), (&bob, "bob")] {
        t.register(name).await;
    }
    alice.ok(&["new", "bob"]).await;

    // A file with a caption, sent at once.
    let plan = noise(3 * 1024 * 1024 + 7, 1);
    let plan_path = homes.path().join("plan.bin");
    std::fs::write(&plan_path, &plan).expect("write");
    let out = alice
        .ok(&[
            "send",
            "bob",
            "the plan",
            "--file",
            plan_path.to_str().expect("utf-8"),
        ])
        .await;
    assert!(out.contains("sent (#1)"), "{out}");

    // A large one, whose upload dies halfway: the process is killed while it hangs.
    let video = noise(12 * 1024 * 1024, 2);
    let video_path = homes.path().join("holiday.mp4");
    std::fs::write(&video_path, &video).expect("write");
    choke.arm(6 * 1024 * 1024);
    let mut sending = alice
        .command(&["send", "bob", "--file", video_path.to_str().expect("utf-8")])
        .spawn()
        .expect("spawn ferry send");
    within("half the file to go out", async {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
        while choke.sent() < 6 * 1024 * 1024 {
            tick.tick().await;
        }
    })
    .await;
    sending.start_kill().expect("SIGKILL ferry send");
    within("ferry send to die", sending.wait())
        .await
        .expect("wait");
    let before = choke.release();

    // Run again, it goes on from the chunks the server holds: far less than the whole
    // file goes again.
    choke.arm(usize::MAX);
    let synced = alice.ok(&["sync"]).await;
    let again = choke.release();
    assert!(
        again < video.len() - 3 * 1024 * 1024,
        "resumed, not restarted: {again} bytes after {before} (file {})",
        video.len()
    );
    assert!(!synced.is_empty());

    bob.ok(&["sync"]).await;
    let page = bob.ok(&["open", "alice"]).await;
    assert!(page.contains("the plan 📎 plan.bin (3.0 MB)"), "{page}");
    assert!(page.contains("📎 holiday.mp4 (12.0 MB)"), "{page}");
    assert_eq!(page.matches("holiday.mp4").count(), 1, "once: {page}");

    // Bob saves both; a second save of the same name does not overwrite the first.
    let out_dir = homes.path().join("downloads");
    let out_str = out_dir.to_str().expect("utf-8");
    bob.ok(&["download", "alice", "2", "--out", out_str]).await;
    bob.ok(&["download", "alice", "1", "--out", out_str]).await;
    bob.ok(&["download", "alice", "1", "--out", out_str]).await;
    assert_eq!(
        std::fs::read(out_dir.join("holiday.mp4")).expect("read"),
        video
    );
    assert_eq!(std::fs::read(out_dir.join("plan.bin")).expect("read"), plan);
    assert_eq!(
        std::fs::read(out_dir.join("plan (1).bin")).expect("read"),
        plan
    );
    let none = bob.run(&["download", "alice", "9"]).await;
    assert!(
        !none.ok && none.stderr.contains("no message"),
        "{}",
        none.stderr
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_blocks_and_reports_from_the_terminal() {
    let (_scene, [alice, mallory]) = registered(["alice", "mallory"]).await;
    mallory.ok(&["new", "alice"]).await;
    mallory.ok(&["send", "alice", "buy now"]).await;
    alice.ok(&["sync"]).await;
    let chats = alice.ok(&["chats"]).await;
    assert!(chats.contains("mallory (message request"), "{chats}");
    let listed = alice.json(&["chats"]).await;
    assert_eq!(listed[0]["request"], true);

    // A group a stranger adds her to waits as a request; `chats` catches up first, so
    // it shows without a `sync` or a running `watch`.
    mallory.ok(&["group", "Deals", "alice"]).await;
    let chats = alice.ok(&["chats"]).await;
    assert!(
        chats.contains("Deals (group request: `ferry accept` to join in, `ferry leave` to refuse)"),
        "{chats}"
    );

    // Deleted here, it leaves the list; mallory writing again brings it back.
    assert_eq!(
        alice.ok(&["dismiss", "mallory"]).await.trim(),
        "deleted on this device"
    );
    assert!(!alice.ok(&["chats"]).await.contains("mallory"));
    assert!(
        alice.ok(&["open", "mallory"]).await.contains("buy now"),
        "still found by name"
    );
    mallory.ok(&["send", "alice", "hello??"]).await;
    alice.ok(&["sync"]).await;
    assert!(
        alice
            .ok(&["chats"])
            .await
            .contains("mallory (message request")
    );

    assert_eq!(alice.ok(&["accept", "mallory"]).await.trim(), "accepted");
    let not_a_request = alice.run(&["dismiss", "mallory"]).await;
    assert!(
        !not_a_request.ok && not_a_request.stderr.contains("only a message request"),
        "{}",
        not_a_request.stderr
    );
    let chats = alice.ok(&["chats"]).await;
    assert!(!chats.contains("message request"), "{chats}");

    assert_eq!(alice.ok(&["block", "mallory"]).await.trim(), "blocked");
    assert!(alice.ok(&["chats"]).await.contains("mallory (blocked)"));
    assert!(alice.ok(&["blocked"]).await.contains("(mallory)"));
    // A blocked chat can leave the list too; unblocking (below) brings it back.
    assert_eq!(
        alice.ok(&["dismiss", "mallory"]).await.trim(),
        "deleted on this device"
    );
    assert!(!alice.ok(&["chats"]).await.contains("mallory"));
    let refused = mallory.run(&["send", "alice", "hello?"]).await;
    assert!(
        !refused.ok && refused.stderr.contains("does not take messages from you"),
        "{}",
        refused.stderr
    );
    let reported = alice
        .ok(&[
            "report",
            "mallory",
            "--chat",
            "mallory",
            "--message",
            "1",
            "--reason",
            "spam",
        ])
        .await;
    assert_eq!(reported.trim(), "reported");
    let missing = alice.run(&["report", "nobody-here"]).await;
    assert!(
        !missing.ok && missing.stderr.contains("no user named"),
        "{}",
        missing.stderr
    );

    assert_eq!(alice.ok(&["unblock", "mallory"]).await.trim(), "unblocked");
    assert!(alice.ok(&["blocked"]).await.contains("nobody"));
    assert!(
        alice.ok(&["chats"]).await.contains("mallory"),
        "back once unblocked"
    );
    assert!(
        mallory
            .ok(&["send", "alice", "sorry"])
            .await
            .contains("sent")
    );
}

/// An operator's actions as a terminal sees them (issue 28): a message removed by an
/// administrator shows as such, and a suspended account is signed out and cannot sign in
/// again, with words that say why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_actions_show_in_the_terminal() {
    let (scene, [alice, mallory]) = registered(["alice", "mallory"]).await;
    mallory.ok(&["new", "alice"]).await;
    mallory.ok(&["send", "alice", "something awful"]).await;
    alice.ok(&["sync"]).await;
    let listed = alice.json(&["open", "mallory"]).await;
    let awful = listed
        .iter()
        .find(|m| m["body"] == "something awful")
        .and_then(|m| m["id"].as_str())
        .unwrap_or_else(|| panic!("the message in {listed:?}"))
        .to_owned();

    let url = scene.server.url();
    let http = reqwest::Client::new();
    let root = ferry_testkit::administrator(&url, &scene._db.url, "root").await;
    let admin = |path: String| {
        http.post(format!("{url}/api/v1/admin{path}"))
            .bearer_auth(&root.access_token)
            .json(&serde_json::json!({"reason": "abuse"}))
            .send()
    };
    let removed = admin(format!("/messages/{awful}/remove"))
        .await
        .expect("remove");
    assert_eq!(removed.status(), reqwest::StatusCode::NO_CONTENT);
    alice.ok(&["sync"]).await;
    let page = alice.ok(&["open", "mallory"]).await;
    assert!(page.contains("(removed by an administrator)"), "{page}");
    assert!(!page.contains("awful"), "the text is gone: {page}");

    let suspended = admin(format!("/users/{}/suspend", id_of(&mallory).await))
        .await
        .expect("suspend");
    assert!(suspended.status().is_success());
    let refused = mallory.run(&["send", "alice", "hello?"]).await;
    assert!(!refused.ok, "{}", refused.stdout);
    let again = mallory
        .run_with_input(
            &["login", "mallory", "--password-stdin"],
            "correct horse battery\n",
        )
        .await;
    assert!(
        !again.ok && again.stderr.contains("suspended"),
        "{}",
        again.stderr
    );
}

/// One's data exported from the terminal (issue 28): a tar archive with its manifest first,
/// holding what they wrote and no one else's words, with progress on standard error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn your_data_is_exported_from_the_terminal() {
    let (_scene, [alice, bob]) = registered(["alice", "bob"]).await;
    alice.ok(&["new", "bob"]).await;
    alice.ok(&["send", "bob", "mine to keep"]).await;
    bob.ok(&["sync"]).await;
    bob.ok(&["send", "alice", "bob's words"]).await;
    let file = alice.dir.join("ferry-export.tar");
    let out = alice
        .run(&["account", "export", file.to_str().expect("a path")])
        .await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("exported your data to"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("exporting:"),
        "progress: {}",
        out.stderr
    );
    let bytes = std::fs::read(&file).expect("the archive");
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut names = Vec::new();
    let mut text = String::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("an entry");
        names.push(entry.path().expect("path").display().to_string());
        std::io::Read::read_to_string(&mut entry, &mut text).expect("text");
    }
    assert_eq!(names.first().map(String::as_str), Some("ferry-export.json"));
    assert!(
        names.iter().any(|n| n.starts_with("messages/")),
        "{names:?}"
    );
    assert!(text.contains("mine to keep") && !text.contains("bob's words"));
    assert!(!alice.dir.join("ferry-export.tar.part").exists());
    let nowhere = alice
        .run(&["account", "export", "/nonexistent-dir/x.tar"])
        .await;
    assert!(!nowhere.ok, "a folder that does not exist is an error");
}

/// A profile picture from the terminal (issue 28): set from an image file, shown in the
/// account, refused for a file that is not an image, and removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_is_set_from_the_terminal() {
    let (_scene, [alice]) = registered(["alice"]).await;
    let image = alice.dir.join("me.png");
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, 30, 20);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("header");
        writer
            .write_image_data(&vec![200u8; 30 * 20 * 3])
            .expect("pixels");
        writer.finish().expect("finish");
    }
    std::fs::write(&image, bytes).expect("write");
    let said = alice
        .ok(&["account", "picture", image.to_str().expect("path")])
        .await;
    assert!(said.contains("picture set"), "{said}");
    assert!(alice.ok(&["account"]).await.contains("picture: set"));
    let account = alice.json(&["account"]).await;
    assert!(account[0]["user"]["picture"].is_string(), "{account:?}");

    let text = alice.dir.join("notes.txt");
    std::fs::write(&text, "just words").expect("write");
    let refused = alice
        .run(&["account", "picture", text.to_str().expect("path")])
        .await;
    assert!(
        !refused.ok && refused.stderr.contains("must be an image"),
        "{}",
        refused.stderr
    );
    assert!(
        alice
            .ok(&["account", "picture", "--remove"])
            .await
            .contains("picture removed")
    );
    assert!(alice.ok(&["account"]).await.contains("picture: none"));
}

/// The id of the account a terminal is signed in with.
async fn id_of(terminal: &Terminal) -> String {
    let me = terminal.json(&["account"]).await;
    me[0]["user"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id in {me:?}"))
        .to_owned()
}

/// One's own account from the terminal (issue 28): a new name, an address confirmed with
/// the mailed code, the sessions listed and one ended, a forgotten password reset by mail,
/// and the account deleted (asked for `--yes` and the password). Linux only: the mail goes
/// to aiosmtpd, which the test script installs there (not under Wine).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_is_managed_from_the_terminal() {
    let db = TestDb::sqlite();
    let mut sink = SmtpSink::start().await;
    let mut config = test_config(&db);
    smtp_config(&mut config, &sink);
    let server = TestServer::start_with(config).await;
    let homes = tempfile::tempdir().expect("dir");
    let terminal = |name: &str| Terminal {
        dir: homes.path().join(name),
        server: server.url(),
    };
    let (alice, elsewhere) = (terminal("alice"), terminal("elsewhere"));
    alice.register("alice").await;

    alice.ok(&["account", "rename", "Ada"]).await;
    let shown = alice.json(&["account"]).await;
    assert_eq!(shown[0]["user"]["display_name"], "Ada");
    let sessions = alice.ok(&["account", "sessions"]).await;
    assert!(sessions.contains("(this device)"), "{sessions}");

    // An address, confirmed with the mailed code.
    let set = alice
        .run_with_input(
            &["account", "email", "ada@example.com"],
            "correct horse battery\n",
        )
        .await;
    assert!(set.ok, "{}", set.stderr);
    let confirmation = sink.expect_mail("ada@example.com").await;
    alice
        .ok(&["account", "verify-email", &code_in(&confirmation)])
        .await;
    assert_eq!(alice.json(&["account"]).await[0]["email_verified"], true);

    // Forgotten on another machine: a code by mail, a new password, every session ended.
    elsewhere.ok(&["forgot-password", "alice"]).await;
    let reset = sink.expect_mail("ada@example.com").await;
    let done = elsewhere
        .run_with_input(
            &["reset-password", &code_in(&reset)],
            "a brand new password\n",
        )
        .await;
    assert!(done.ok, "{}", done.stderr);
    let signed_out = alice.run(&["account"]).await;
    assert!(
        !signed_out.ok,
        "alice's session ended: {}",
        signed_out.stdout
    );
    let back = elsewhere
        .run_with_input(
            &["login", "alice", "--password-stdin"],
            "a brand new password\n",
        )
        .await;
    assert!(back.ok, "{}", back.stderr);

    // Deleting asks for --yes, then the password.
    let unsure = elsewhere.run(&["account", "delete"]).await;
    assert!(
        !unsure.ok && unsure.stderr.contains("--yes"),
        "{}",
        unsure.stderr
    );
    let wrong = elsewhere
        .run_with_input(&["account", "delete", "--yes"], "not the password\n")
        .await;
    assert!(
        !wrong.ok && wrong.stderr.contains("password"),
        "{}",
        wrong.stderr
    );
    let gone = elsewhere
        .run_with_input(&["account", "delete", "--yes"], "a brand new password\n")
        .await;
    assert!(gone.ok, "{}", gone.stderr);
    let again = elsewhere
        .run_with_input(
            &["login", "alice", "--password-stdin"],
            "a brand new password\n",
        )
        .await;
    assert!(!again.ok, "a deleted account signs in no more");
}

/// A locked keyring (the Secret Service of a desktop session whose login keyring is
/// locked, and no display to ask for its password) stops `register` before the server
/// makes the account: once the keyring works, the same command succeeds instead of
/// finding the name taken. Linux only: a Secret Service is what can be locked this way
/// (Windows' Credential Manager and macOS's Keychain are open while the user is signed in).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_keyring_makes_no_account() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let homes = tempfile::tempdir().expect("dir");
    let dana = Terminal {
        dir: homes.path().join("dana"),
        server: server.url(),
    };
    // A D-Bus session of its own with a throwaway keyring, locked before `ferry` runs.
    let keyring = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/with-keyring.sh");
    let lock_then_run = "dbus-send --session --print-reply --dest=org.freedesktop.secrets \
        /org/freedesktop/secrets org.freedesktop.Secret.Service.Lock \
        array:objpath:/org/freedesktop/secrets/collection/login >/dev/null && exec \"$@\"";
    let mut locked = Command::new("dbus-run-session");
    locked
        .args(["--", "bash", keyring, "bash", "-c", lock_then_run, "lock"])
        .arg(env!("CARGO_BIN_EXE_ferry"))
        .arg("--data-dir")
        .arg(&dana.dir)
        .args(["register", "dana", "--password-stdin"])
        .env("FERRY_SERVER", server.url())
        // Without a display the keyring cannot ask for its password: it stays locked.
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = locked.spawn().expect("dbus-run-session");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"correct horse battery\n")
        .await
        .expect("password");
    drop(stdin);
    let refused = within("register with a locked keyring", child.wait_with_output())
        .await
        .expect("run");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "registered without a keyring");
    assert!(
        stderr.contains("keyring is locked") && stderr.contains("unlock the keyring"),
        "{stderr}"
    );
    dana.register("dana").await;
    server.stop().await;
}

/// Mentions and notification levels from the terminal (issue 29): `@username` of a member
/// goes out as a mention by id and prints back as `@username`; `chats` says who was
/// mentioned and each chat's level; `notify` sets the level on every device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_and_levels_from_the_terminal() {
    let (_scene, [alice, bob, carol]) = registered(["alice", "bob", "carol"]).await;
    alice.ok(&["group", "Lunch crew", "bob", "carol"]).await;
    bob.ok(&["sync"]).await;
    bob.ok(&["accept", "Lunch crew"]).await;
    bob.ok(&["notify", "Lunch crew", "mentions"]).await;

    let sent = alice
        .json(&[
            "send",
            "Lunch crew",
            "@Bob, table for 3? (ask @dave or mail bob@example.org)",
        ])
        .await;
    let body = sent[0]["message"]["body"].as_str().expect("body");
    let bob_id = id_of(&bob).await;
    assert_eq!(
        body,
        format!("<@{bob_id}>, table for 3? (ask @dave or mail bob@example.org)"),
        "a member's name became a mention; the rest stayed as typed"
    );

    bob.ok(&["sync"]).await;
    let chats = bob.ok(&["chats"]).await;
    assert!(
        chats.contains("Lunch crew (notifies for mentions only) [1 unread, 1 mentions you]"),
        "{chats}"
    );
    let page = bob.ok(&["open", "Lunch crew"]).await;
    assert!(page.contains("@bob, table for 3?"), "{page}");
    // Carol was not mentioned; her chat notifies of everything.
    carol.ok(&["sync"]).await;
    let chats = carol.ok(&["chats"]).await;
    assert!(
        chats.contains("[1 unread]") && !chats.contains("mention"),
        "{chats}"
    );
    let refused = carol.run(&["notify", "Lunch crew", "loud"]).await;
    assert!(
        !refused.ok && refused.stderr.contains("loud"),
        "{}",
        refused.stderr
    );
}

/// End-to-end encryption from the terminal (issue 31): a chat with someone who never ran
/// `ferry` since registering says it waits for their keys; once both have run it (and so
/// published their keys), their chat is encrypted, `chats` shows the lock, the text goes
/// sealed and `open` shows it on the other side, while the server's database and files
/// hold none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_chat_from_the_terminal() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let homes = tempfile::tempdir().expect("dir");
    let [alice, bob, carol] = ["alice", "bob", "carol"].map(|name| Terminal {
        dir: homes.path().join(name),
        server: server.url(),
    });
    alice.register("alice").await;
    bob.register("bob").await;
    carol.register("carol").await;
    // A sync is what publishes a device's keys: Carol's device has none, so a chat with
    // her stays plain, and says why.
    bob.ok(&["sync"]).await;
    alice.ok(&["new", "carol"]).await;
    alice.ok(&["sync"]).await;
    let chats = alice.ok(&["chats"]).await;
    assert!(
        chats.contains("carol (not encrypted yet: waiting for carol to set up encryption)"),
        "{chats}"
    );
    alice.ok(&["new", "bob"]).await;
    alice.ok(&["sync"]).await;
    let chats = alice.ok(&["chats"]).await;
    assert!(chats.contains("bob 🔒"), "the lock: {chats}");

    alice.ok(&["send", "bob", "the door code is 4711"]).await;
    bob.ok(&["sync"]).await;
    let opened = bob.ok(&["open", "alice"]).await;
    assert!(opened.contains("the door code is 4711"), "{opened}");
    let chats = bob.ok(&["chats"]).await;
    assert!(chats.contains("🔒"), "{chats}");

    // Both see the same safety number, each from their own copy of the group.
    let number = |out: Vec<Value>| {
        out[0]["safety_number"]
            .as_str()
            .expect("a number")
            .to_owned()
    };
    let mine = number(alice.json(&["verify", "bob"]).await);
    let theirs = number(bob.json(&["verify", "alice"]).await);
    assert_eq!(mine.len(), 60, "{mine}");
    assert_eq!(mine, theirs, "the two sides agree");
    let shown = alice.ok(&["verify", "bob"]).await;
    assert!(shown.contains(&mine[..5]), "{shown}");

    let kept = db.stored_bytes().await;
    assert!(
        !ferry_testkit::holds(&kept, "door code"),
        "the server keeps the text"
    );
    assert!(ferry_testkit::holds(&kept, "alice"), "the search can find");
}

/// The history of an encrypted chat goes to Alice's new device when she sends it from
/// her terminal: the new device (the client core, its tokens in memory, since the
/// terminal's keyring holds one session per account) cannot open what came before it,
/// and asks; `ferry history` shows the ask, `ferry history send` answers it, and the new
/// device reads the chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_goes_to_a_new_device_from_the_terminal() {
    use std::sync::Arc;

    use ferry_client::{Client, ClientOptions, tokens::MemoryTokens};

    let (scene, [alice, bob]) = registered(["alice", "bob"]).await;
    bob.ok(&["sync"]).await;
    alice.ok(&["new", "bob"]).await;
    alice.ok(&["sync"]).await;
    alice.ok(&["send", "bob", "the door code is 4711"]).await;
    alice.ok(&["sync"]).await;
    let nothing = alice.ok(&["history"]).await;
    assert!(nothing.trim().is_empty(), "no ask yet: {nothing}");

    let phone_dir = tempfile::tempdir().expect("dir");
    let phone = Client::login(
        ClientOptions::new(scene.server.url(), phone_dir.path()),
        Arc::new(MemoryTokens::default()),
        "alice",
        "correct horse battery",
    )
    .await
    .expect("the phone signs in");
    within("the phone's sync", phone.sync_now())
        .await
        .expect("sync");
    let read = |client: &Client| {
        let chat = client.conversations(None, 10).expect("chats")[0].id;
        client
            .conversation(chat)
            .messages(None, 10)
            .expect("messages")
            .into_iter()
            .map(|m| (m.body, m.unreadable))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        read(&phone),
        [(String::new(), true)],
        "sealed before it joined"
    );

    let asks = alice.json(&["history"]).await;
    assert_eq!(asks.len(), 1, "{asks:?}");
    let session = asks[0]["session_id"].as_str().expect("an id").to_owned();
    let listed = alice.ok(&["history"]).await;
    assert!(
        listed.contains(&format!("ferry history send {session}")),
        "{listed}"
    );
    let sent = alice.ok(&["history", "send", &session]).await;
    assert!(sent.contains("sent the history (1 entry)"), "{sent}");

    within("the phone's sync", phone.sync_now())
        .await
        .expect("sync");
    assert_eq!(read(&phone), [("the door code is 4711".to_owned(), false)]);
    let nothing = alice.ok(&["history"]).await;
    assert!(nothing.trim().is_empty(), "answered: {nothing}");
    let again = alice.run(&["history", "send", &session]).await;
    assert!(!again.ok, "no ask waits any more");
    assert!(
        again.stderr.contains("no device of yours asked"),
        "{}",
        again.stderr
    );
}
