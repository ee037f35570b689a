//! The scenarios of docs/benchmarks.md, each run the same way on either server: a fresh
//! database seeded with the same world (same seed), the server started on it, the
//! connections opened, the load offered open-loop, then everything expected waited for
//! and checked.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use ferry_proto::{ConversationId, UserId};

use crate::load::{
    Command, FIRST_SOURCE, Fleet, Nodes, Progress, Tally, TypingQueues, Users, open_loop,
};
use crate::report::Outcome;
use crate::resume::Resume;
use crate::sealing::{self, Sealer};
use ferry_bench::rng::Rng;

use crate::setup::{self, World};
use crate::target::{Server, own_usage, postgres_cpu_secs};
use crate::wire::Target;
use crate::workers::{PER_PROCESS, SplitFleet};

/// How a run is set up.
pub struct Run {
    pub target: Target,
    /// Node processes for the peer (1, or 2 for its cluster mode).
    pub workers: usize,
    pub admin_url: String,
    pub addr: String,
    pub quick: bool,
    /// B1 fails when Ferry's server grows more than this per connection (KiB).
    pub max_rss_kib: Option<f64>,
}

impl Run {
    fn label(&self) -> String {
        match (self.target, self.workers) {
            (Target::Ferry, _) => "ferry".into(),
            (Target::Socketio, 1) => "socketio".into(),
            (Target::Socketio, n) => format!("socketio-cluster{n}"),
        }
    }

    /// A fresh database with `world` in it and the server running on it.
    pub async fn prepare(&self, scenario: &str, world: &World) -> anyhow::Result<(Server, String)> {
        let name = format!(
            "ferry_bench_{}_{}",
            scenario.to_lowercase(),
            self.label().replace('-', "_")
        );
        let url = setup::fresh_database(&self.admin_url, &name).await?;
        let server = match self.target {
            // Ferry migrates its database at start.
            Target::Ferry => Server::start(self.target, &self.addr, &url, 1).await?,
            Target::Socketio => {
                let schema = include_str!("../../migrations/postgres/0001_init.sql");
                let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await?;
                sqlx::raw_sql(schema).execute(&mut db).await?;
                // The one later column the seed writes (0009: when a session was last used).
                sqlx::raw_sql("ALTER TABLE sessions ADD COLUMN last_used_at BIGINT")
                    .execute(&mut db)
                    .await?;
                Server::start(self.target, &self.addr, &url, self.workers).await?
            }
        };
        setup::seed(&url, world).await.context("seed")?;
        Ok((server, name))
    }

    /// The URL of the scenario's database `name` (made by [`Run::prepare`]).
    pub fn database_url(&self, name: &str) -> anyhow::Result<String> {
        let (base, _) = self.admin_url.rsplit_once('/').context("admin url")?;
        Ok(format!("{base}/{name}"))
    }

    pub async fn cleanup(&self, server: Server, name: &str) {
        server.stop().await;
        let _ = setup::drop_database(&self.admin_url, name).await;
    }

    /// A connection for each user of `world` to `server` (256 handshakes at a time),
    /// once all are signed in or have failed to; with typing queues (B2), in resume mode
    /// (B6, B7) or sealing with each user's device (B3e, B4e) when asked.
    pub async fn connect(
        &self,
        server: &Server,
        world: &World,
        typing: Option<(TypingQueues, Arc<HashMap<ConversationId, usize>>)>,
        resume: Option<Resume>,
        sealers: Vec<Sealer>,
    ) -> anyhow::Result<Fleet> {
        let users = Users {
            tokens: world.tokens(),
            sealers,
        };
        let fleet = Fleet::open(
            self.target,
            &Nodes::one(&server.addr),
            users,
            typing,
            256,
            resume,
            FIRST_SOURCE,
        )?;
        Ok(fleet.settled().await)
    }

    pub fn outcome(&self, scenario: &str) -> Outcome {
        let mut o = Outcome::new(scenario, self.target);
        o.param("workers", self.workers as f64);
        o
    }
}

pub fn body(scheduled_us: u64, phase: usize, i: u64) -> String {
    // What the receiver reads first, then ~80 bytes like a short chat line.
    format!(
        "{scheduled_us} {phase} {i} lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do"
    )
}

pub fn connection_problems(o: &mut Outcome, fleet: &Fleet) {
    let p = &fleet.progress;
    lost_connections(
        o,
        p.failed.load(Ordering::Relaxed),
        p.closed.load(Ordering::Relaxed),
    );
}

/// Connections that `failed` to open and that were dropped (`closed`), as problems.
fn lost_connections(o: &mut Outcome, failed: u64, closed: u64) {
    if failed > 0 {
        o.problem(format!("{failed} connections failed to open"));
    }
    if closed > 0 {
        o.problem(format!("{closed} connections were dropped"));
    }
}

/// Waits (bounded) until every send is answered and every expected delivery arrived.
pub async fn drain(fleet: &Fleet, sent: u64) {
    fleet
        .wait_until(Duration::from_secs(30), |p| {
            let answered = p.acked.load(Ordering::Relaxed) + p.refused.load(Ordering::Relaxed);
            answered >= sent
                && p.deliveries.load(Ordering::Relaxed)
                    >= p.expected_deliveries.load(Ordering::Relaxed)
        })
        .await;
}

/// B1: idle signed-in connections with the heartbeat on; server memory per connection
/// at `n`, then whether one server process holds `total`. The generator's side is split
/// over worker processes (crate::workers): a generator process could not hold 19k
/// sockets under the same file limit as the server. The quick run goes through two
/// workers and then a third, as the full run does, so CI covers that path too.
pub async fn b1(run: &Run) -> anyhow::Result<Outcome> {
    let (n, total, per_process) = if run.quick {
        (2_000, 2_500, 1_000)
    } else {
        (15_000, 19_000, PER_PROCESS)
    };
    let hold = Duration::from_secs(if run.quick { 5 } else { 25 });
    let world = World::new(total, &[], &mut Rng::new(1));
    let (server, name) = run.prepare("B1", &world).await?;
    let mut o = run.outcome("B1");
    o.param("connections", n as f64);
    o.param("connections_total", total as f64);
    o.param("hold_secs", hold.as_secs_f64());
    let mut first = world.tokens();
    let more = first.split_off(n);
    let mut fleet = SplitFleet::new(run.target, &server.addr);
    o.start(&server);
    let started = Instant::now();
    fleet.open(first, per_process, 256).await?;
    o.figure("connect_secs", started.elapsed().as_secs_f64());
    // Over a heartbeat interval (20 s) in the full run: every socket must still be there.
    fleet.hold(hold).await?;
    o.end(&server);
    let ready = fleet.counts().ready;
    o.figure("connected", ready as f64);
    let grown = o
        .server_end
        .rss_bytes
        .saturating_sub(o.server_start.rss_bytes);
    let per_connection = grown as f64 / 1024.0 / ready.max(1) as f64;
    o.figure("server_rss_kib_per_connection", per_connection);
    if let (Target::Ferry, Some(max)) = (run.target, run.max_rss_kib)
        && per_connection > max
    {
        o.problem(format!(
            "{per_connection:.1} KiB of server memory per connection, over {max}"
        ));
    }
    o.figure(
        "server_rss_mib",
        o.server_end.rss_bytes as f64 / 1_048_576.0,
    );
    // The rest, up to `total` in the one server process, held as long.
    fleet.open(more, per_process, 256).await?;
    fleet.hold(hold).await?;
    o.figure(
        "server_rss_mib_total",
        server.usage().rss_bytes as f64 / 1_048_576.0,
    );
    let counts = fleet.finish().await?;
    o.figure("connected_total", counts.ready as f64);
    o.figure(
        "held_total",
        counts.ready.saturating_sub(counts.closed) as f64,
    );
    lost_connections(&mut o, counts.failed, counts.closed);
    run.cleanup(server, &name).await;
    Ok(o)
}

/// B2: typing notices relayed between the two members of direct conversations.
pub async fn b2(run: &Run) -> anyhow::Result<Outcome> {
    let (n, rate, secs) = if run.quick {
        (2_000, 2_000.0, 10.0)
    } else {
        (10_000, 10_000.0, 20.0)
    };
    let world = World::new(n, &[], &mut Rng::new(2));
    let (server, name) = run.prepare("B2", &world).await?;
    let mut o = run.outcome("B2");
    o.param("connections", n as f64);
    o.param("rate", rate);
    o.param("secs", secs);
    let pairs = n / 2;
    let queues = Arc::new(
        (0..pairs)
            .map(|_| Mutex::new(VecDeque::new()))
            .collect::<Vec<_>>(),
    );
    let index: HashMap<ConversationId, usize> = world
        .conversations
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    let typing = Some((queues, Arc::new(index)));
    let fleet = run
        .connect(&server, &world, typing, None, Vec::new())
        .await?;
    o.start(&server);
    let count = (rate * secs) as u64;
    let started = Instant::now();
    open_loop(&fleet, count, rate, |i, scheduled_us| {
        let k = (i as usize) % pairs;
        (
            2 * k,
            Command::Typing {
                conversation_id: world.conversations[k].id,
                index: k,
                // Each conversation's notices alternate, so that every one is a change:
                // Ferry does not relay a repeat (nor would a client send one this often).
                typing: (i / pairs as u64).is_multiple_of(2),
                scheduled_us,
            },
        )
    })
    .await;
    fleet
        .wait_until(Duration::from_secs(30), |p| {
            p.typings.load(Ordering::Relaxed) >= count
        })
        .await;
    o.end(&server);
    let got = fleet.progress.typings.load(Ordering::Relaxed);
    o.figure(
        "typing_delivered_per_sec",
        got as f64 / started.elapsed().as_secs_f64(),
    );
    if got < count {
        o.problem(format!("{} of {count} typing notices lost", count - got));
    }
    connection_problems(&mut o, &fleet);
    let tally = fleet.finish().await;
    o.latency("typing", &tally.typing);
    run.cleanup(server, &name).await;
    Ok(o)
}

/// B3's world, which B7 shares: `n` users in direct chats, plus groups of 5 (one per
/// tenth of `n`) and of 50 (one per hundredth).
pub struct Mix {
    pub world: World,
    directs: usize,
    small: usize,
    large: usize,
}

impl Mix {
    pub fn new(n: usize, rng: &mut Rng) -> Self {
        let small = (n / 10).max(1);
        let large = (n / 100).max(1);
        Self {
            world: World::new(n, &[(small, 5), (large, 50)], rng),
            directs: n / 2,
            small,
            large,
        }
    }

    /// Send number `i`: 70% into direct chats, 20% into groups of 5, 10% into groups of
    /// 50, from a random member; which connection sends what. Plain messages only (B7).
    pub fn send(&self, rng: &mut Rng, i: u64, scheduled_us: u64) -> (usize, Command) {
        let c = match rng.below(10) {
            0..7 => rng.below(self.directs),
            7..9 => self.directs + rng.below(self.small),
            _ => self.directs + self.small + rng.below(self.large),
        };
        let conversation = &self.world.conversations[c];
        let sender = conversation.members[rng.below(conversation.members.len())];
        (
            sender,
            Command::Send {
                conversation_id: conversation.id,
                recipients: (conversation.members.len() - 1) as u32,
                scheduled_us,
                phase: 0,
                body: body(scheduled_us, 0, i),
            },
        )
    }
}

impl Mix {
    /// As [`Mix::send`], but one send in ten edits the sender's newest message in that
    /// conversation and one in ten reacts to it (B3): changes are entries of the stream,
    /// so the checks of order, loss and duplicates cover them as they cover messages.
    pub fn send_or_change(&self, rng: &mut Rng, i: u64, scheduled_us: u64) -> (usize, Command) {
        let (sender, command) = self.send(rng, i, scheduled_us);
        let kind = match rng.below(10) {
            0 => ferry_proto::ChangeKind::Edit,
            1 => ferry_proto::ChangeKind::React,
            _ => return (sender, command),
        };
        let Command::Send {
            conversation_id,
            recipients,
            scheduled_us,
            phase,
            body,
        } = command
        else {
            return (sender, command);
        };
        (
            sender,
            Command::Change {
                conversation_id,
                recipients,
                scheduled_us,
                phase,
                kind,
                body,
            },
        )
    }
}

/// B3: durable messages in a mix of direct chats and groups (5 and 50 members), with a
/// share of edits and reactions; with `changes` false (B3m), the same load with messages
/// only, to see what the changes cost in the same run. `sealed` (B3e, Ferry only): the
/// same load with every conversation end-to-end encrypted (crate::sealing).
pub async fn b3(run: &Run, changes: bool, sealed: bool) -> anyhow::Result<Outcome> {
    let (n, rate, secs) = if run.quick {
        (1_000, 500.0, 10.0)
    } else {
        (5_000, 2_000.0, 30.0)
    };
    let mut rng = Rng::new(3);
    let mix = Mix::new(n, &mut rng);
    let world = &mix.world;
    let scenario = match (changes, sealed) {
        (_, true) => "B3e",
        (true, false) => "B3",
        (false, false) => "B3m",
    };
    let (server, name) = run.prepare(scenario, world).await?;
    let mut o = run.outcome(scenario);
    o.param("connections", n as f64);
    o.param("rate", rate);
    o.param("secs", secs);
    let sealers = encrypt(run, &server.addr, world, sealed, &mut o).await?;
    let fleet = run.connect(&server, world, None, None, sealers).await?;
    o.start(&server);
    let count = (rate * secs) as u64;
    let started = Instant::now();
    open_loop(&fleet, count, rate, |i, scheduled_us| {
        if changes {
            mix.send_or_change(&mut rng, i, scheduled_us)
        } else {
            mix.send(&mut rng, i, scheduled_us)
        }
    })
    .await;
    drain(&fleet, count).await;
    o.end(&server);
    let elapsed = started.elapsed().as_secs_f64();
    o.figure(
        "deliveries_per_sec",
        fleet.progress.deliveries.load(Ordering::Relaxed) as f64 / elapsed,
    );
    close_sends(&mut o, fleet, count, elapsed).await;
    run.cleanup(server, &name).await;
    Ok(o)
}

/// The end of a scenario that sent `count` messages at one rate over `elapsed` seconds:
/// the acked rate, closing the connections, the check, and ack and delivery latency.
pub async fn close_sends(o: &mut Outcome, fleet: Fleet, count: u64, elapsed: f64) -> Tally {
    o.figure(
        "acked_per_sec",
        fleet.progress.acked.load(Ordering::Relaxed) as f64 / elapsed,
    );
    connection_problems(o, &fleet);
    let progress = fleet.progress.clone();
    let tally = fleet.finish().await;
    check(o, &progress, &tally, count);
    if let Some(h) = tally.ack.first() {
        o.latency("ack", h);
    }
    if let Some(h) = tally.delivery.first() {
        o.latency("delivery", h);
    }
    tally
}

/// B4 and B5 share this: steps of increasing offered rate into conversations of
/// `size` members, `secs` each, on one set of connections, until a step leaves the
/// server behind.
async fn steps(
    run: &Run,
    scenario: &str,
    n: usize,
    size: usize,
    rates: &[f64],
    secs: f64,
    sealed: bool,
) -> anyhow::Result<Outcome> {
    let mut rng = Rng::new(4);
    let groups = if size > 2 { (n / size).max(1) } else { 0 };
    let world = World::new(n, &[(groups, size)], &mut rng);
    let (server, name) = run.prepare(scenario, &world).await?;
    let mut o = run.outcome(scenario);
    o.param("connections", n as f64);
    o.param("members", size as f64);
    o.param("secs_per_step", secs);
    let sealers = encrypt(run, &server.addr, &world, sealed, &mut o).await?;
    let fleet = run.connect(&server, &world, None, None, sealers).await?;
    let targets: Vec<usize> = if size > 2 {
        (n / 2..world.conversations.len()).collect()
    } else {
        (0..n / 2).collect()
    };
    o.start(&server);
    let bench_start = own_usage();
    let mut sent = 0u64;
    for (step, &rate) in rates.iter().enumerate() {
        let before = server.usage();
        let postgres_before = postgres_cpu_secs();
        let acked0 = fleet.progress.acked.load(Ordering::Relaxed);
        let delivered0 = fleet.progress.deliveries.load(Ordering::Relaxed);
        let count = (rate * secs) as u64;
        let started = Instant::now();
        open_loop(&fleet, count, rate, |i, scheduled_us| {
            let conversation = &world.conversations[targets[(i as usize) % targets.len()]];
            let sender = conversation.members[rng.below(conversation.members.len())];
            let recipients = (conversation.members.len() - 1) as u32;
            (
                sender,
                Command::Send {
                    conversation_id: conversation.id,
                    recipients,
                    scheduled_us,
                    phase: step,
                    body: body(scheduled_us, step, i),
                },
            )
        })
        .await;
        sent += count;
        drain(&fleet, sent).await;
        let elapsed = started.elapsed().as_secs_f64();
        let after = server.usage();
        let postgres = postgres_cpu_secs() - postgres_before;
        let acked = fleet.progress.acked.load(Ordering::Relaxed) - acked0;
        let delivered = fleet.progress.deliveries.load(Ordering::Relaxed) - delivered0;
        let cpu = after.cpu_secs - before.cpu_secs;
        o.figure(
            &format!("step {rate:>6}/s: acked/s"),
            acked as f64 / elapsed,
        );
        o.figure(
            &format!("step {rate:>6}/s: deliveries/s"),
            delivered as f64 / elapsed,
        );
        o.figure(
            &format!("step {rate:>6}/s: deliveries per server CPU-s"),
            delivered as f64 / cpu.max(0.001),
        );
        o.figure(
            &format!("step {rate:>6}/s: server CPU-s per s"),
            cpu / elapsed,
        );
        o.figure(
            &format!("step {rate:>6}/s: postgres CPU-s per s"),
            postgres / elapsed,
        );
        // Past saturation a step only measures a queue, and its backlog drains into the
        // next step's figures and for 30 s after it: once more than a tenth of a step's
        // sends are still unanswered after the drain, the higher steps are not run.
        let answered = fleet.progress.acked.load(Ordering::Relaxed)
            + fleet.progress.refused.load(Ordering::Relaxed);
        if sent.saturating_sub(answered) > count / 10 {
            o.figure("saturated: steps stopped after (sends/s)", rate);
            break;
        }
    }
    o.end(&server);
    o.figure(
        "bench_cpu_secs",
        own_usage().cpu_secs - bench_start.cpu_secs,
    );
    connection_problems(&mut o, &fleet);
    let progress = fleet.progress.clone();
    let tally = fleet.finish().await;
    check(&mut o, &progress, &tally, sent);
    for (step, rate) in rates.iter().enumerate() {
        if let Some(h) = tally.ack.get(step) {
            o.latency(&format!("ack @{rate}/s"), h);
        }
        if let Some(h) = tally.delivery.get(step) {
            o.latency(&format!("delivery @{rate}/s"), h);
        }
    }
    run.cleanup(server, &name).await;
    Ok(o)
}

/// B4: fan-out into groups of 100 at rising rates (1k connections); `sealed` (B4e,
/// Ferry only): every conversation end-to-end encrypted (crate::sealing).
pub async fn b4(run: &Run, sealed: bool) -> anyhow::Result<Outcome> {
    let rates: &[f64] = if run.quick {
        &[200.0]
    } else {
        &[250.0, 500.0, 750.0, 1_000.0, 1_500.0, 2_000.0]
    };
    steps(
        run,
        if sealed { "B4e" } else { "B4" },
        1_000,
        100,
        rates,
        if run.quick { 5.0 } else { 10.0 },
        sealed,
    )
    .await
}

/// B5: durable persistence into Postgres at rising rates (400 connections, direct chats).
pub async fn b5(run: &Run) -> anyhow::Result<Outcome> {
    let rates: &[f64] = if run.quick {
        &[1_000.0]
    } else {
        &[1_000.0, 2_000.0, 4_000.0, 8_000.0, 12_000.0, 16_000.0]
    };
    let secs = if run.quick { 5.0 } else { 10.0 };
    steps(run, "B5", 400, 2, rates, secs, false).await
}

/// Lost, duplicated, reordered, refused or unanswered: what a chat must never do.
pub fn check(o: &mut Outcome, p: &Progress, tally: &Tally, sent: u64) {
    let acked = p.acked.load(Ordering::Relaxed);
    let refused = p.refused.load(Ordering::Relaxed);
    let expected = p.expected_deliveries.load(Ordering::Relaxed);
    let got = p.deliveries.load(Ordering::Relaxed);
    o.figure("sent", sent as f64);
    o.figure("acked", acked as f64);
    o.figure("deliveries", got as f64);
    if acked + refused < sent {
        o.problem(format!("{} sends never answered", sent - acked - refused));
    }
    if refused > 0 {
        o.problem(format!("{refused} sends refused: {:?}", tally.refusals));
    }
    if got < expected {
        o.problem(format!("{} of {expected} deliveries lost", expected - got));
    }
    if tally.duplicates > 0 {
        o.problem(format!("{} duplicate deliveries", tally.duplicates));
    }
    if tally.reordered > 0 {
        o.problem(format!("{} deliveries out of order", tally.reordered));
    }
    let undecryptable = p.undecryptable.load(Ordering::Relaxed);
    if undecryptable > 0 {
        o.problem(format!("{undecryptable} sealed entries did not open"));
    }
    let unopened = p.unopened.load(Ordering::Relaxed);
    if unopened > 0 {
        o.problem(format!(
            "{unopened} sealed entries never opened: one below them never came"
        ));
    }
    let unsealed = p.unsealed.load(Ordering::Relaxed);
    if unsealed > 0 {
        o.problem(format!("{unsealed} sends could not be sealed"));
    }
    if !tally.seal.is_empty() {
        o.figure("opened", tally.open.len() as f64);
        o.figure("seal_mean_us", tally.seal.mean());
        o.figure("open_mean_us", tally.open.mean());
        o.latency("seal", &tally.seal);
        o.latency("open", &tally.open);
    }
}

/// Encrypted runs (Ferry only): every conversation of `world` gets its MLS group through
/// the server at `addr`, and each user a device to seal with (crate::sealing); how long
/// that took. Plain runs: no devices.
pub async fn encrypt(
    run: &Run,
    addr: &str,
    world: &World,
    sealed: bool,
    o: &mut Outcome,
) -> anyhow::Result<Vec<Sealer>> {
    if !sealed {
        return Ok(Vec::new());
    }
    anyhow::ensure!(run.target == Target::Ferry, "encrypted runs are Ferry's");
    let started = Instant::now();
    let groups = sealing::establish(addr, world)
        .await
        .context("making the groups")?;
    o.figure("groups_made_secs", started.elapsed().as_secs_f64());
    o.figure(
        "largest_first_commit_kib",
        groups.largest_commit_bytes as f64 / 1024.0,
    );
    o.param("encrypted", 1.0);
    Ok(groups.sealers)
}

/// B9 (Ferry only: the peer has no client with an outbox): a real client core queues
/// `n` messages offline in 50 conversations, then connects; the time until the outbox
/// is empty, and then the server's tables must hold every message exactly once, in
/// compose order per conversation. With `kill_server`, the server is SIGKILLed when half
/// the outbox has gone and started again on the same database.
pub async fn b9(run: &Run, kill_server: bool) -> anyhow::Result<Outcome> {
    use ferry_client::tokens::MemoryTokens;
    use ferry_client::{Client, ClientOptions};

    anyhow::ensure!(run.target == Target::Ferry, "B9 runs on Ferry only");
    let n: usize = if run.quick { 2_000 } else { 10_000 };
    let conversations = 50;
    let scenario = if kill_server { "B9k" } else { "B9" };
    // 50 partners, each in a group with the client's user (added below).
    let world = World::new(conversations, &[], &mut Rng::new(9));
    let (mut server, name) = run.prepare(scenario, &world).await?;
    let db_url = run.database_url(&name)?;
    let mut o = run.outcome(scenario);
    o.param("messages", n as f64);
    o.param("conversations", conversations as f64);
    let dir = tempfile::tempdir()?;
    let server_url = format!("http://{}", run.addr);
    let client = Client::register(
        ClientOptions::new(&server_url, dir.path()),
        Arc::new(MemoryTokens::default()),
        "outbox",
        "correct horse battery staple",
        "Outbox",
    )
    .await?;
    let me = client.me().id;
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&db_url).await?;
    let groups: Vec<ConversationId> = (0..conversations).map(|_| ConversationId::new()).collect();
    let now = ferry_proto::Timestamp::now().as_millis();
    sqlx::query(
        "INSERT INTO conversations (id, kind, title, created_at, updated_at, change_version) \
         SELECT id, 'group', 'outbox', $2, $2, 0 FROM UNNEST($1::uuid[]) AS t(id)",
    )
    .bind(&groups)
    .bind(now)
    .execute(&mut db)
    .await?;
    let partners: Vec<UserId> = world.users.clone();
    sqlx::query(
        "INSERT INTO members (conversation_id, user_id, role, joined_at) \
         SELECT c, u, 'member', $4 FROM UNNEST($1::uuid[], $2::uuid[]) AS t(c, u) \
         UNION ALL SELECT c, $3, 'owner', $4 FROM UNNEST($1::uuid[]) AS t(c)",
    )
    .bind(&groups)
    .bind(&partners)
    .bind(me)
    .bind(now)
    .execute(&mut db)
    .await?;
    // Online once so that the client knows the conversations, then offline.
    client.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.conversations(None, 100)?.len() < conversations {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the client never learned its conversations"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.stop().await;
    for i in 0..n {
        client
            .conversation(groups[i % conversations])
            .send(&format!("{i}"))?;
    }
    o.start(&server);
    let started = Instant::now();
    client.start();
    let mut killed = !kill_server;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = client.outbox_len()?;
        if left == 0 {
            break;
        }
        if !killed && left <= n / 2 {
            // The server's CPU counts both lives: what the first one used is carried over.
            let first_life = server.usage().cpu_secs - o.server_start.cpu_secs;
            server.kill().await;
            server = Server::start(Target::Ferry, &run.addr, &db_url, 1).await?;
            o.server_start.cpu_secs = server.usage().cpu_secs - first_life;
            client.reconnect_now();
            killed = true;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the outbox did not empty in 120 s ({left} left)"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    o.figure("all_acked_secs", started.elapsed().as_secs_f64());
    o.end(&server);
    client.stop().await;
    // Exactly once, in compose order: conversation k holds k, k+50, k+100, … as seq 1, 2, 3, …
    let rows: Vec<(ConversationId, i64, String)> = sqlx::query_as(
        "SELECT conversation_id, seq, body FROM messages ORDER BY conversation_id, seq",
    )
    .fetch_all(&mut db)
    .await?;
    o.figure("stored", rows.len() as f64);
    if rows.len() != n {
        o.problem(format!("{} messages stored, {n} sent", rows.len()));
    }
    let index: HashMap<ConversationId, usize> =
        groups.iter().enumerate().map(|(k, id)| (*id, k)).collect();
    let wrong = rows
        .iter()
        .filter(|(c, seq, body)| {
            let k = index.get(c).copied().unwrap_or(usize::MAX);
            body.parse::<usize>().ok() != Some(k + (*seq as usize - 1) * conversations)
        })
        .count();
    if wrong > 0 {
        o.problem(format!("{wrong} messages out of compose order"));
    }
    drop(db);
    run.cleanup(server, &name).await;
    Ok(o)
}
