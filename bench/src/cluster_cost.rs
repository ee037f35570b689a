//! B11, the cost of the cluster: what a second node costs on the same two cores. Not
//! capacity (two nodes on two shared cores cannot show any): the same load on one node
//! and on two, compared by latency and by server CPU per delivery; then delivery across
//! nodes at 10k deliveries a second, every sender on node A and all its recipients on
//! node B, against the same world on one node. Ferry's two nodes share a NATS of the
//! scenario's own; the peer's two are its cluster mode (two Node workers and
//! `@socket.io/postgres-adapter`), with `SPLIT_PORTS` so that a socket goes to the
//! worker the bench chooses.

use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Context;
use ferry_proto::ConversationId;

use crate::cluster::{Nodes as Cluster, Ports};
use crate::load::{Command, FIRST_SOURCE, Fleet, Nodes, open_loop};
use crate::report::Outcome;
use crate::scenarios::{Mix, Run, body, check, connection_problems, drain};
use crate::services::Nats;
use crate::setup::{self, Conversation, World};
use crate::target::{Server, Usage, postgres_cpu_secs};
use crate::wire::Target;
use ferry_bench::rng::Rng;

/// Recipients of each message in the cross-node part (one sender, ten on the other
/// node): 1,000 sends a second make 10,000 deliveries a second.
const RECIPIENTS: usize = 10;

/// One or two server nodes (processes) on one database.
enum Deployment {
    Ferry { nodes: Cluster, nats: Option<Nats> },
    Peer { server: Server, addrs: Vec<String> },
}

impl Deployment {
    /// `size` nodes of `run.target` on a fresh database `name` seeded with `world`.
    async fn start(
        run: &Run,
        ports: &Ports,
        size: usize,
        name: &str,
        world: &World,
    ) -> anyhow::Result<Self> {
        let url = setup::fresh_database(&run.admin_url, name).await?;
        let addrs: Vec<String> = (0..size).map(|i| ports.node(i)).collect();
        let deployment = match run.target {
            Target::Ferry => {
                let nats = if size > 1 {
                    Some(Nats::start(ports.nats()).await?)
                } else {
                    None
                };
                let nodes =
                    Cluster::start(addrs, &url, nats.as_ref().map(Nats::url), "ferry-bench-b11")
                        .await?;
                Self::Ferry { nodes, nats }
            }
            Target::Socketio => {
                let schema = include_str!("../../migrations/postgres/0001_init.sql");
                let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await?;
                sqlx::raw_sql(schema).execute(&mut db).await?;
                let env = [("SPLIT_PORTS", "1".to_owned())];
                let server =
                    Server::start_with(Target::Socketio, &addrs[0], &url, size, &env).await?;
                Self::Peer { server, addrs }
            }
        };
        setup::seed(&url, world).await.context("seed")?;
        Ok(deployment)
    }

    fn addrs(&self) -> Vec<String> {
        match self {
            Self::Ferry { nodes, .. } => nodes.addrs.clone(),
            Self::Peer { addrs, .. } => addrs.clone(),
        }
    }

    fn usage(&self) -> Usage {
        match self {
            Self::Ferry { nodes, .. } => nodes.usage(),
            Self::Peer { server, .. } => server.usage(),
        }
    }

    /// The bus's own process (Ferry's NATS; the peer's bus is Postgres, counted there).
    fn bus_cpu_secs(&self) -> f64 {
        match self {
            Self::Ferry {
                nats: Some(nats), ..
            } => nats.cpu_secs(),
            _ => 0.0,
        }
    }

    async fn stop(self, run: &Run, name: &str) {
        match self {
            Self::Ferry { nodes, nats } => {
                nodes.stop().await;
                if let Some(nats) = nats {
                    nats.stop().await;
                }
            }
            Self::Peer { server, .. } => server.stop().await,
        }
        let _ = setup::drop_database(&run.admin_url, name).await;
    }
}

/// What one part sends.
struct Load<'a> {
    count: u64,
    rate: f64,
    make: Box<dyn FnMut(u64, u64) -> (usize, Command) + 'a>,
}

/// Runs `load` on `size` nodes with `world` (connection i on node `homes[i]`, or round
/// robin), and files its figures under `part`.
async fn part(
    run: &Run,
    o: &mut Outcome,
    ports: &Ports,
    (part, size): (&str, usize),
    world: &World,
    homes: Vec<usize>,
    mut load: Load<'_>,
) -> anyhow::Result<()> {
    let name = format!(
        "ferry_bench_b11_{}_{}",
        part.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        match run.target {
            Target::Ferry => "ferry",
            Target::Socketio => "socketio",
        }
    );
    let deployment = Deployment::start(run, ports, size, &name, world).await?;
    let nodes = Nodes {
        addrs: deployment.addrs(),
        homes,
    };
    let fleet = Fleet::open(
        run.target,
        &nodes,
        world.tokens().into(),
        None,
        256,
        None,
        FIRST_SOURCE,
    )?
    .settled()
    .await;
    let before = deployment.usage();
    let bus_before = deployment.bus_cpu_secs();
    let postgres_before = postgres_cpu_secs();
    let started = Instant::now();
    open_loop(&fleet, load.count, load.rate, &mut load.make).await;
    drain(&fleet, load.count).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = deployment.usage().cpu_secs - before.cpu_secs;
    let bus = deployment.bus_cpu_secs() - bus_before;
    let postgres = postgres_cpu_secs() - postgres_before;
    let p = &fleet.progress;
    let delivered = p.deliveries.load(Ordering::Relaxed) as f64;
    o.figure(
        &format!("{part}: acked/s"),
        p.acked.load(Ordering::Relaxed) as f64 / elapsed,
    );
    o.figure(&format!("{part}: deliveries/s"), delivered / elapsed);
    o.figure(&format!("{part}: server CPU-s per s"), cpu / elapsed);
    o.figure(
        &format!("{part}: server CPU µs per delivery"),
        cpu * 1e6 / delivered.max(1.0),
    );
    o.figure(
        &format!("{part}: bus (NATS) CPU µs per delivery"),
        bus * 1e6 / delivered.max(1.0),
    );
    o.figure(&format!("{part}: postgres CPU-s per s"), postgres / elapsed);
    let mut checked = Outcome::new("", run.target);
    connection_problems(&mut checked, &fleet);
    let progress = fleet.progress.clone();
    let tally = fleet.finish().await;
    check(&mut checked, &progress, &tally, load.count);
    for (k, v) in checked.figures {
        o.figure(&format!("{part}: {k}"), v);
    }
    for problem in checked.problems {
        o.problem(format!("{part}: {problem}"));
    }
    if let Some(h) = tally.ack.first() {
        o.latency(&format!("{part}: ack"), h);
    }
    if let Some(h) = tally.delivery.first() {
        o.latency(&format!("{part}: delivery"), h);
    }
    deployment.stop(run, &name).await;
    Ok(())
}

/// `groups` groups of one sender and [`RECIPIENTS`] others, and the node of each user
/// on `size` nodes: senders on the first, the others on the last.
fn cross_world(groups: usize, size: usize) -> (World, Vec<usize>) {
    let per = RECIPIENTS + 1;
    let mut world = World::new(groups * per, &[], &mut Rng::new(11));
    world.conversations = (0..groups)
        .map(|g| Conversation {
            id: ConversationId::new(),
            members: (g * per..(g + 1) * per).collect(),
            direct: false,
        })
        .collect();
    let homes = (0..groups * per)
        .map(|u| if u % per == 0 { 0 } else { size - 1 })
        .collect();
    (world, homes)
}

pub async fn b11(run: &Run) -> anyhow::Result<Outcome> {
    let ports = Ports::new(&run.addr)?;
    let (n, rate, secs) = if run.quick {
        (1_000, 500.0, 6.0)
    } else {
        (5_000, 2_000.0, 30.0)
    };
    let (groups, cross_rate, cross_secs) = if run.quick {
        (50, 1_000.0, 4.0)
    } else {
        (100, 1_000.0, 20.0)
    };
    let mut o = run.outcome("B11");
    o.param("connections", n as f64);
    o.param("rate", rate);
    o.param("secs", secs);
    o.param("cross_node_groups", groups as f64);
    o.param("cross_node_recipients", RECIPIENTS as f64);
    o.param("cross_node_rate", cross_rate);
    o.param("cross_node_secs", cross_secs);
    let unit = match run.target {
        Target::Ferry => ["1 node", "2 nodes"],
        Target::Socketio => ["1 process", "2 workers"],
    };
    // The same load (B3's mix, same seed) on one node and on two, connections round
    // robin over the nodes.
    for (size, label) in [1, 2].into_iter().zip(unit) {
        let mut rng = Rng::new(3);
        let mix = Mix::new(n, &mut rng);
        let load = Load {
            count: (rate * secs) as u64,
            rate,
            make: Box::new(|i, at| mix.send(&mut rng, i, at)),
        };
        part(
            run,
            &mut o,
            &ports,
            (&format!("mix, {label}"), size),
            &mix.world,
            Vec::new(),
            load,
        )
        .await?;
    }
    // Senders on one node, recipients on the other; and the same on one node.
    for (size, label) in [1, 2].into_iter().zip(["same node", "cross-node"]) {
        let (world, homes) = cross_world(groups, size);
        let conversations = world.conversations.clone();
        let per = RECIPIENTS + 1;
        let load = Load {
            count: (cross_rate * cross_secs) as u64,
            rate: cross_rate,
            make: Box::new(move |i, at| {
                let g = (i as usize) % conversations.len();
                (
                    g * per,
                    Command::Send {
                        conversation_id: conversations[g].id,
                        recipients: RECIPIENTS as u32,
                        scheduled_us: at,
                        phase: 0,
                        body: body(at, 0, i),
                    },
                )
            }),
        };
        part(
            run,
            &mut o,
            &ports,
            (&format!("fan-out 10k/s, {label}"), size),
            &world,
            homes,
            load,
        )
        .await?;
    }
    Ok(o)
}
