//! The scenarios where sockets go away and come back (docs/benchmarks.md): B6, the
//! reconnect storm after a server restart, and B7, sockets cut every few seconds under
//! load. Both run the generator's connections in resume mode (crate::resume): each
//! reconnects, catches up what it missed and resends what was not answered, and the
//! usual check still finds anything lost, duplicated or reordered on the way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use ferry_proto::{ConversationId, MessageId, UserId};
use sqlx::{Connection, PgConnection};

use crate::clock::now_us;
use crate::load::{Command, Fleet, Progress, open_loop};
use crate::report::Outcome;
use crate::resume::Resume;
use crate::scenarios::{Mix, Run, body, check, close_sends, connection_problems, drain};
use ferry_bench::rng::Rng;

use crate::setup::World;
use crate::target::Server;

/// The phase of B6's messages written while the server was down (the burst is 0).
const WRITTEN_WHILE_DOWN: usize = 1;

/// How long the generator waits for everyone to come back, and for the database's
/// backends to go away.
const PATIENCE: Duration = Duration::from_secs(60);

/// B6: a server restart under many connected clients. A burst gives them history; the
/// server is SIGKILLed; while it is down one message per direct conversation is written
/// straight into the database, as another node of a cluster would; then it starts again
/// on the same database and every client reconnects and catches up.
pub async fn b6(run: &Run) -> anyhow::Result<Outcome> {
    let (n, rate, secs) = if run.quick {
        (2_000, 500.0, 2.0)
    } else {
        (10_000, 1_000.0, 3.0)
    };
    let world = World::new(n, &[], &mut Rng::new(6));
    let (mut server, name) = run.prepare("B6", &world).await?;
    let url = run.database_url(&name)?;
    let mut o = run.outcome("B6");
    o.param("connections", n as f64);
    o.param("burst_rate", rate);
    o.param("burst_secs", secs);
    let resume = Resume {
        users: world.users.clone(),
        cut_every: None,
    };
    let fleet = run
        .connect(&server, &world, None, Some(resume), Vec::new())
        .await?;
    o.start(&server);
    let pairs = n / 2;
    let count = (rate * secs) as u64;
    let mut rng = Rng::new(60);
    open_loop(&fleet, count, rate, |i, scheduled_us| {
        let conversation = &world.conversations[rng.below(pairs)];
        (
            conversation.members[rng.below(2)],
            Command::Send {
                conversation_id: conversation.id,
                recipients: 1,
                scheduled_us,
                phase: 0,
                body: body(scheduled_us, 0, i),
            },
        )
    })
    .await;
    drain(&fleet, count).await;

    // The server's CPU counts both lives: what the first one used is carried over.
    let first_life = server.usage().cpu_secs - o.server_start.cpu_secs;
    let killed = Instant::now();
    server.kill().await;
    let everyone = n as u64;
    if !fleet
        .wait_until(PATIENCE, |p| p.offline.load(Ordering::Relaxed) >= everyone)
        .await
    {
        let offline = fleet.progress.offline.load(Ordering::Relaxed);
        o.problem(format!(
            "only {offline} of {n} connections noticed the server's death"
        ));
    }
    let written = write_while_down(&url, &world).await?;
    fleet
        .progress
        .expected_deliveries
        .fetch_add(written, Ordering::Relaxed);
    let transactions_before = transactions(&run.admin_url, &name).await?;
    let reconnects_before = fleet.progress.reconnects.load(Ordering::Relaxed);
    server = Server::start(run.target, &run.addr, &url, run.workers).await?;
    let ready = Instant::now();
    o.server_start.cpu_secs = server.usage().cpu_secs - first_life;
    o.figure("down_secs", (ready - killed).as_secs_f64());

    // Every connection back, then every one caught up, timed from the restart.
    let restart = Restart {
        ready,
        killed,
        connections: n,
    };
    let offline = &fleet.progress.offline;
    restart
        .until_none(&mut o, &fleet, offline, "all_reconnected", "not back")
        .await;
    let behind = &fleet.progress.behind;
    restart
        .until_none(&mut o, &fleet, behind, "all_caught_up", "not caught up")
        .await;
    drain(&fleet, count).await;
    o.end(&server);
    let reconnecting = fleet.progress.reconnects.load(Ordering::Relaxed) - reconnects_before;
    o.figure("reconnects", reconnecting as f64);
    o.figure("written_while_down", written as f64);
    resume_figures(&mut o, &fleet.progress);
    connection_problems(&mut o, &fleet);

    // Postgres counts a backend's transactions when it flushes its statistics, which
    // an idle one may put off for seconds: read after the server's backends are gone.
    server.kill().await;
    let progress = fleet.progress.clone();
    let tally = fleet.finish().await;
    let transactions_after = transactions(&run.admin_url, &name).await?;
    o.figure(
        "database_transactions_per_reconnecting_client",
        transactions_after.saturating_sub(transactions_before) as f64 / reconnecting.max(1) as f64,
    );
    check(&mut o, &progress, &tally, count);
    if let Some(h) = tally.delivery.first() {
        o.latency("burst delivery", h);
    }
    o.latency("reconnect", &tally.reconnect);
    o.latency("replay", &tally.replay);
    run.cleanup(server, &name).await;
    Ok(o)
}

/// B6's restart, to time what the connections do after it.
struct Restart {
    /// When the restarted server was ready.
    ready: Instant,
    killed: Instant,
    connections: usize,
}

impl Restart {
    /// Waits (up to [`PATIENCE`]) until no connection is counted in `left`. Then the
    /// time it took, after the server was ready and after the kill, is the figures
    /// `{what}_secs_after_…`; or, when some connections are still `not_there`, that is
    /// a problem.
    async fn until_none(
        &self,
        o: &mut Outcome,
        fleet: &Fleet,
        left: &AtomicU64,
        what: &str,
        not_there: &str,
    ) {
        if fleet
            .wait_until(PATIENCE, |_| left.load(Ordering::Relaxed) == 0)
            .await
        {
            let secs = self.ready.elapsed().as_secs_f64();
            let down_secs = (self.ready - self.killed).as_secs_f64();
            o.figure(&format!("{what}_secs_after_ready"), secs);
            o.figure(&format!("{what}_secs_after_kill"), secs + down_secs);
        } else {
            o.problem(format!(
                "{} of {} connections {not_there} {}s after the restart",
                left.load(Ordering::Relaxed),
                self.connections,
                PATIENCE.as_secs()
            ));
        }
    }
}

/// One message per direct conversation from its first member, appended the way both
/// servers append (seq from the conversation row, bumped change version, the sender's
/// watermarks), in one transaction; how many.
async fn write_while_down(url: &str, world: &World) -> anyhow::Result<u64> {
    let mut db = PgConnection::connect(url).await?;
    let now = ferry_proto::Timestamp::now().as_millis();
    let scheduled = now_us();
    let directs: Vec<_> = world.conversations.iter().filter(|c| c.direct).collect();
    let conversations: Vec<ConversationId> = directs.iter().map(|c| c.id).collect();
    let senders: Vec<UserId> = directs.iter().map(|c| world.users[c.members[0]]).collect();
    let ids: Vec<MessageId> = directs.iter().map(|_| MessageId::new()).collect();
    let bodies: Vec<String> = (0..directs.len())
        .map(|i| body(scheduled, WRITTEN_WHILE_DOWN, i as u64))
        .collect();
    let mut tx = db.begin().await?;
    let seqs: Vec<(ConversationId, i64)> = sqlx::query_as(
        "UPDATE conversations c SET last_seq = c.last_seq + 1, \
         updated_at = GREATEST(c.updated_at, $2), \
         change_version = pg_current_xact_id()::text::bigint \
         FROM UNNEST($1::uuid[]) AS t(id) WHERE c.id = t.id RETURNING c.id, c.last_seq",
    )
    .bind(&conversations)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    anyhow::ensure!(
        seqs.len() == conversations.len(),
        "{} of {} conversations found",
        seqs.len(),
        conversations.len()
    );
    let seq_of: std::collections::HashMap<ConversationId, i64> = seqs.into_iter().collect();
    let seqs: Vec<i64> = conversations.iter().map(|c| seq_of[c]).collect();
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at) \
         SELECT id, c, seq, sender, body, $6 \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[], $5::text[]) \
         AS t(id, c, seq, sender, body)",
    )
    .bind(&ids)
    .bind(&conversations)
    .bind(&seqs)
    .bind(&senders)
    .bind(&bodies)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE members m SET read_seq = GREATEST(m.read_seq, t.seq), \
         delivered_seq = GREATEST(m.delivered_seq, t.seq) \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[]) AS t(c, u, seq) \
         WHERE m.conversation_id = t.c AND m.user_id = t.u",
    )
    .bind(&conversations)
    .bind(&senders)
    .bind(&seqs)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    db.close().await?;
    Ok(ids.len() as u64)
}

/// Transactions committed or rolled back in database `name` so far, once no backend is
/// connected to it (so that every one has flushed its statistics) and the count holds
/// still (a backend leaves the activity view just before its last flush).
async fn transactions(admin_url: &str, name: &str) -> anyhow::Result<u64> {
    let mut admin = PgConnection::connect(admin_url).await?;
    let deadline = Instant::now() + PATIENCE;
    let mut previous = None;
    loop {
        let connected: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                .bind(name)
                .fetch_one(&mut admin)
                .await?;
        if connected == 0 {
            let count: i64 = sqlx::query_scalar(
                "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database \
                 WHERE datname = $1",
            )
            .bind(name)
            .fetch_one(&mut admin)
            .await
            .context("pg_stat_database")?;
            if previous == Some(count) {
                return Ok(count as u64);
            }
            previous = Some(count);
        } else {
            previous = None;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "backends still on {name} after {}s",
            PATIENCE.as_secs()
        );
        // Postgres announces neither a backend's exit nor its statistics flush: poll.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// B7: sockets cut at random every few seconds under a B3-like load; every message must
/// still arrive exactly once, late ones by catch-up.
pub async fn b7(run: &Run) -> anyhow::Result<Outcome> {
    let (n, rate, secs, cut_every) = if run.quick {
        (1_000, 300.0, 10.0, Duration::from_secs(4))
    } else {
        (5_000, 1_000.0, 45.0, Duration::from_secs(15))
    };
    let mut rng = Rng::new(7);
    let mix = Mix::new(n, &mut rng);
    let world = &mix.world;
    let (server, name) = run.prepare("B7", world).await?;
    let mut o = run.outcome("B7");
    o.param("connections", n as f64);
    o.param("rate", rate);
    o.param("secs", secs);
    o.param("mean_secs_between_cuts", cut_every.as_secs_f64());
    let resume = Resume {
        users: world.users.clone(),
        cut_every: Some(cut_every),
    };
    let fleet = run
        .connect(&server, world, None, Some(resume), Vec::new())
        .await?;
    o.start(&server);
    let count = (rate * secs) as u64;
    let started = Instant::now();
    fleet.set_cutting(true);
    open_loop(&fleet, count, rate, |i, scheduled_us| {
        mix.send(&mut rng, i, scheduled_us)
    })
    .await;
    fleet.set_cutting(false);
    fleet
        .wait_until(Duration::from_secs(30), |p| {
            let answered = p.acked.load(Ordering::Relaxed) + p.refused.load(Ordering::Relaxed);
            answered >= count
                && p.deliveries.load(Ordering::Relaxed)
                    >= p.expected_deliveries.load(Ordering::Relaxed)
                && p.offline.load(Ordering::Relaxed) == 0
                && p.behind.load(Ordering::Relaxed) == 0
        })
        .await;
    o.end(&server);
    let elapsed = started.elapsed().as_secs_f64();
    resume_figures(&mut o, &fleet.progress);
    let tally = close_sends(&mut o, fleet, count, elapsed).await;
    o.figure(
        "later_socket_repeats_dropped_by_id",
        tally.later_socket_repeats as f64,
    );
    o.latency("reconnect", &tally.reconnect);
    o.latency("replay", &tally.replay);
    run.cleanup(server, &name).await;
    Ok(o)
}

/// The counts of resume mode, and what it left undone.
pub fn resume_figures(o: &mut Outcome, p: &Progress) {
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    o.figure("cuts", get(&p.cuts) as f64);
    o.figure("catch_ups", get(&p.caught_up) as f64);
    o.figure("gap_catch_ups", get(&p.gap_catch_ups) as f64);
    o.figure("reconnect_failures", get(&p.reconnect_failures) as f64);
    o.figure("replayed_deliveries", get(&p.replayed) as f64);
    o.figure("resent_sends", get(&p.resent) as f64);
    let offline = get(&p.offline);
    if offline > 0 {
        o.problem(format!("{offline} connections still without a socket"));
    }
    let behind = get(&p.behind);
    if behind > 0 {
        o.problem(format!("{behind} connections never caught up"));
    }
    let failures = get(&p.catch_up_failures);
    if failures > 0 {
        o.problem(format!("{failures} catch-ups failed"));
    }
}
