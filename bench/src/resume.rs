//! Connections that come back (B6, B7). In resume mode a connection that loses its
//! socket while the fleet is not stopped reconnects with jittered pacing, catches up
//! what it missed the way a real client does, and resends its unanswered sends under the
//! same ids (both servers store a message id once). Catching up is Ferry's `/sync`
//! (with each changed conversation's latest messages) and then, where those do not reach
//! back far enough, history pages over REST (docs/protocol.md), both through
//! `ferry_client::Api` as the client core calls them; or the peer's `sync` and `history`
//! events on the new socket. [`Resume`] asks for the mode,
//! [`Rejoin`] is the part shared by a fleet (the REST client, whether cuts are on), and
//! [`Resumer`] is one connection's state: its sync cursor, where its catch-up starts
//! and the requests still out. A connection can also cut its own socket now and then
//! (B7), abruptly, as a network does. Between losses, a Ferry connection that finds a gap
//! below a message it holds fetches just that gap ([`Resumer::gap`]), as ferry-client
//! does.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferry_client::Api;
use ferry_proto::{ConversationId, Message, UserId};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::clock::now_us;
use crate::wire::{ConversationMark, SOCKETIO_PAGE, StoredMessage, Target};
use ferry_bench::rng::Rng;

/// Catch-ups over REST at once, over the whole fleet. Each is a few short requests;
/// the bound keeps the generator's sockets (one per request in flight) well under the
/// open-file limit when 10k connections come back together, and is far above what two
/// cores serve concurrently, so it does not pace the server.
const REST_PARALLEL: usize = 1_024;

/// Ferry's largest history page (`Api::sync` asks for its largest page too).
const REST_PAGE: u32 = 500;

/// Latest messages per changed conversation that Ferry's `/sync` brings along, as
/// `ferry-client` asks (its `SYNC_MESSAGES`).
const SYNC_MESSAGES: u32 = 20;

/// How long a catch-up keeps retrying a failed REST call before it gives up.
const REST_PATIENCE: Duration = Duration::from_secs(30);

/// The first reconnect waits up to this long, so that a fleet does not come back in
/// one instant; later attempts wait [`RETRY_MIN`] plus up to [`RETRY_SPREAD`].
const FIRST_SPREAD_MS: usize = 500;
const RETRY_MIN_MS: u64 = 100;
const RETRY_SPREAD_MS: usize = 200;

/// Resume mode, asked of [`crate::load::Fleet::open`].
pub struct Resume {
    /// The user of each connection, in the order of the tokens: a catch-up does not
    /// count its own messages as deliveries.
    pub users: Vec<UserId>,
    /// Each connection cuts its socket after a uniformly random time between half and
    /// one and a half of this, again and again, while [`Rejoin::set_cutting`] is on.
    pub cut_every: Option<Duration>,
}

/// What a fleet's connections share in resume mode.
pub struct Rejoin {
    /// Ferry's REST API on each node (its clones share one connection pool); a
    /// catch-up moves to the next node when a call fails (its node may be down).
    apis: Vec<Api>,
    cut_every: Option<Duration>,
    cutting: AtomicBool,
    rest_gate: Semaphore,
}

impl Rejoin {
    pub fn new(addrs: &[String], cut_every: Option<Duration>) -> anyhow::Result<Self> {
        let apis = addrs
            .iter()
            .map(|addr| Api::new(&format!("http://{addr}")))
            .collect::<Result<Vec<_>, _>>()?;
        anyhow::ensure!(!apis.is_empty(), "no server for the catch-ups");
        Ok(Self {
            apis,
            cut_every,
            cutting: AtomicBool::new(false),
            rest_gate: Semaphore::new(REST_PARALLEL),
        })
    }

    /// Turns the connections' cuts on or off (off at first).
    pub fn set_cutting(&self, on: bool) {
        self.cutting.store(on, Ordering::Relaxed);
    }
}

/// A request of the peer's catch-up still waiting for its answer.
enum Request {
    Sync,
    History,
}

/// What a finished REST catch-up brings back (a gap's fill leaves the cursor as it was).
pub struct Caught {
    cursor: Option<String>,
    pub messages: Vec<StoredMessage>,
}

/// Why a catch-up is owed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owed {
    /// The socket was lost, or the server said `resync`: everything since the cursor.
    Loss,
    /// A message came past a gap: just the gaps.
    Gap,
}

/// A catch-up owed: since when, why, and the highest seq held without a gap per
/// conversation then, where it starts.
struct Behind {
    since: Instant,
    owed: Owed,
    from: HashMap<ConversationId, i64>,
}

/// One connection's resume state.
pub struct Resumer {
    rejoin: Arc<Rejoin>,
    pub user: UserId,
    rng: Rng,
    /// Ferry's `/sync` cursor: what this connection has already synced.
    cursor: Option<String>,
    /// Set from the first loss (or gap) not yet caught up. A socket lost again during a
    /// catch-up keeps where it starts, as live frames of the short-lived socket may have
    /// gone past the gap.
    behind: Option<Behind>,
    rest: Option<JoinHandle<anyhow::Result<Caught>>>,
    /// The peer's catch-up requests still out, by ack number.
    requests: HashMap<u64, Request>,
}

impl Resumer {
    pub fn new(rejoin: Arc<Rejoin>, user: UserId, seed: u64) -> Self {
        Self {
            rejoin,
            user,
            rng: Rng::new(seed),
            cursor: None,
            behind: None,
            rest: None,
            requests: HashMap::new(),
        }
    }

    /// Ferry: the first sync of a connection, to learn its cursor.
    pub async fn first_sync(&mut self, target: Target, token: &str) -> anyhow::Result<()> {
        if target == Target::Ferry {
            // Only to learn the cursor: no messages.
            let api = &self.rejoin.apis[self.rng.below(self.rejoin.apis.len())];
            let synced = sync(&self.rejoin, api, token, None, 0).await?;
            self.cursor = Some(synced.cursor);
        }
        Ok(())
    }

    /// The socket is gone (or the server said `resync`); `last_seq` is the highest seq
    /// held without a gap per conversation. Whether this starts a new catch-up debt
    /// (false when one was still being paid; a gap's becomes a loss's).
    pub fn lost(&mut self, last_seq: &HashMap<ConversationId, i64>) -> bool {
        if let Some(task) = self.rest.take() {
            task.abort();
        }
        self.requests.clear();
        if let Some(behind) = &mut self.behind {
            if behind.owed == Owed::Gap {
                behind.owed = Owed::Loss;
                behind.since = Instant::now();
            }
            return false;
        }
        self.behind = Some(Behind {
            since: Instant::now(),
            owed: Owed::Loss,
            from: last_seq.clone(),
        });
        true
    }

    /// Ferry: messages came past gaps, `(conversation, held, highest)` each; fetches
    /// what lies between over REST, as ferry-client does, unless a catch-up is under way
    /// (its end looks again). Whether this started one.
    pub fn gap(
        &mut self,
        gaps: Vec<(ConversationId, i64, i64)>,
        last_seq: &HashMap<ConversationId, i64>,
        token: &str,
    ) -> bool {
        if self.catching_up() || gaps.is_empty() {
            return false;
        }
        self.behind = Some(Behind {
            since: Instant::now(),
            owed: Owed::Gap,
            from: last_seq.clone(),
        });
        let rejoin = self.rejoin.clone();
        let token = token.to_owned();
        let seed = self.rng.next_u64();
        self.rest = Some(tokio::spawn(async move {
            rest_fill(&rejoin, &token, &gaps, seed).await
        }));
        true
    }

    /// How long to wait before the next reconnect attempt.
    pub fn reconnect_delay(&mut self, first: bool) -> Duration {
        let ms = if first {
            self.rng.below(FIRST_SPREAD_MS + 1) as u64
        } else {
            RETRY_MIN_MS + self.rng.below(RETRY_SPREAD_MS + 1) as u64
        };
        Duration::from_millis(ms)
    }

    /// A node of `nodes` picked at random, to reconnect to.
    pub fn pick(&mut self, nodes: usize) -> usize {
        self.rng.below(nodes)
    }

    /// When the current socket is to be cut, if cuts are asked for.
    pub fn next_cut(&mut self) -> Option<Instant> {
        let mean = self.rejoin.cut_every?;
        let ms = mean.as_millis() as usize;
        let after = ms / 2 + self.rng.below(ms + 1);
        Some(Instant::now() + Duration::from_millis(after as u64))
    }

    /// Whether cuts are on now.
    pub fn cutting(&self) -> bool {
        self.rejoin.cutting.load(Ordering::Relaxed)
    }

    /// Starts the catch-up on a new socket. Ferry's runs over REST beside the socket
    /// ([`Resumer::rest`]); the peer's is this first frame to send, and the answers.
    pub fn begin(&mut self, target: Target, token: &str, next_ack: &mut u64) -> Option<String> {
        let from = self.behind.as_ref()?.from.clone();
        match target {
            Target::Ferry => {
                let rejoin = self.rejoin.clone();
                let token = token.to_owned();
                let cursor = self.cursor.clone();
                let seed = self.rng.next_u64();
                self.rest = Some(tokio::spawn(async move {
                    rest_catch_up(&rejoin, &token, cursor, &from, seed).await
                }));
                None
            }
            Target::Socketio => {
                *next_ack += 1;
                self.requests.insert(*next_ack, Request::Sync);
                Some(target.sync_request(*next_ack))
            }
        }
    }

    /// Whether a catch-up is under way (or waits for a new socket to start on).
    fn catching_up(&self) -> bool {
        self.behind.is_some() || self.rest.is_some() || !self.requests.is_empty()
    }

    /// The REST catch-up under way, to await beside the socket.
    pub fn rest(&mut self) -> Option<&mut JoinHandle<anyhow::Result<Caught>>> {
        self.rest.as_mut()
    }

    /// The REST catch-up ended: keep its cursor, hand back its messages.
    pub fn rest_done(&mut self, caught: Caught) -> Vec<StoredMessage> {
        self.rest = None;
        if let Some(cursor) = caught.cursor {
            self.cursor = Some(cursor);
        }
        caught.messages
    }

    /// The REST catch-up failed for good (or panicked).
    pub fn rest_failed(&mut self) {
        self.rest = None;
    }

    /// The peer answered sync request `number` (if it is one): the history requests to
    /// send for every conversation that went past where this connection was.
    pub fn synced(
        &mut self,
        target: Target,
        number: u64,
        marks: Vec<ConversationMark>,
        next_ack: &mut u64,
    ) -> Vec<String> {
        if !matches!(self.requests.remove(&number), Some(Request::Sync)) {
            return Vec::new();
        }
        let Some(Behind { from, .. }) = &self.behind else {
            return Vec::new();
        };
        let mut frames = Vec::new();
        for mark in marks {
            let after = from.get(&mark.id).copied().unwrap_or(0);
            if mark.last_seq > after {
                *next_ack += 1;
                self.requests.insert(*next_ack, Request::History);
                frames.push(target.history_request(*next_ack, mark.id, after));
            }
        }
        frames
    }

    /// The peer answered history request `number` (if it is one): whether it was, and
    /// the request for the next page when this one was full.
    pub fn paged(
        &mut self,
        target: Target,
        number: u64,
        page: &[StoredMessage],
        next_ack: &mut u64,
    ) -> (bool, Option<String>) {
        if !matches!(self.requests.remove(&number), Some(Request::History)) {
            return (false, None);
        }
        let next = match page.last() {
            Some(last) if page.len() >= SOCKETIO_PAGE => {
                *next_ack += 1;
                self.requests.insert(*next_ack, Request::History);
                Some(target.history_request(*next_ack, last.conversation_id, last.seq))
            }
            _ => None,
        };
        (true, next)
    }

    /// A refused request: whether it was one of the catch-up's (then it is given up).
    pub fn refused(&mut self, number: u64) -> bool {
        self.requests.remove(&number).is_some()
    }

    /// When nothing of the catch-up is still out: when it was owed, and why.
    pub fn finished(&mut self) -> Option<(Instant, Owed)> {
        if self.rest.is_some() || !self.requests.is_empty() {
            return None;
        }
        self.behind.take().map(|b| (b.since, b.owed))
    }
}

/// What `/sync` from a cursor to the end said.
struct Synced {
    cursor: String,
    /// How far each changed conversation goes (a conversation may come twice; the higher
    /// seq wins).
    last_seqs: HashMap<ConversationId, i64>,
    /// The latest messages of each changed conversation, as the pages brought them.
    latest: Vec<Message>,
}

/// `/sync` from `cursor` to the end, with the latest `messages` of each changed
/// conversation.
async fn sync(
    rejoin: &Rejoin,
    api: &Api,
    token: &str,
    mut cursor: Option<String>,
    messages: u32,
) -> anyhow::Result<Synced> {
    let mut last_seqs = HashMap::new();
    let mut latest = Vec::new();
    loop {
        let page = {
            let _turn = rejoin.rest_gate.acquire().await?;
            api.with_token(token)
                .sync(cursor.as_deref(), messages, 0)
                .await?
        };
        for c in page.conversations {
            let last = last_seqs.entry(c.id).or_insert(c.last_seq);
            *last = (*last).max(c.last_seq);
        }
        latest.extend(page.messages);
        cursor = Some(page.cursor);
        if !page.has_more {
            break;
        }
    }
    Ok(Synced {
        cursor: cursor.expect("set by the loop"),
        last_seqs,
        latest,
    })
}

/// One REST catch-up: `/sync` since `cursor`, then the messages of every conversation
/// past where `from` says this connection was.
async fn rest_catch_up(
    rejoin: &Rejoin,
    token: &str,
    cursor: Option<String>,
    from: &HashMap<ConversationId, i64>,
    seed: u64,
) -> anyhow::Result<Caught> {
    patiently(rejoin, seed, |api| {
        let cursor = cursor.clone();
        async move { try_rest_catch_up(rejoin, &api, token, cursor, from).await }
    })
    .await
}

/// Runs `attempt` against one node after another until it succeeds, for
/// [`REST_PATIENCE`]: the server may still be starting, or refusing under the storm, so
/// each retry comes after the same paced pause as a reconnect, as a client's backoff
/// would.
async fn patiently<T, Attempt, Fut>(
    rejoin: &Rejoin,
    seed: u64,
    mut attempt: Attempt,
) -> anyhow::Result<T>
where
    Attempt: FnMut(Api) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let give_up = Instant::now() + REST_PATIENCE;
    let mut rng = Rng::new(seed ^ now_us());
    let mut node = rng.below(rejoin.apis.len());
    loop {
        match attempt(rejoin.apis[node].clone()).await {
            Ok(done) => return Ok(done),
            Err(e) if Instant::now() > give_up => return Err(e),
            Err(_) => {
                node = (node + 1) % rejoin.apis.len();
                let pause = RETRY_MIN_MS + rng.below(RETRY_SPREAD_MS + 1) as u64;
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    }
}

async fn try_rest_catch_up(
    rejoin: &Rejoin,
    api: &Api,
    token: &str,
    cursor: Option<String>,
    from: &HashMap<ConversationId, i64>,
) -> anyhow::Result<Caught> {
    let synced = sync(rejoin, api, token, cursor, SYNC_MESSAGES).await?;
    let mut messages = Vec::new();
    let mut reached: HashMap<ConversationId, i64> = HashMap::new();
    for m in synced.latest {
        let after = reached
            .entry(m.conversation_id)
            .or_insert_with(|| from.get(&m.conversation_id).copied().unwrap_or(0));
        // Kept only while they continue what this connection has: past a gap, the page
        // below fetches from where it stopped, as the client does.
        if m.seq == *after + 1 {
            *after = m.seq;
            messages.push(stored(m));
        }
    }
    for (conversation_id, last_seq) in synced.last_seqs {
        let after = reached
            .get(&conversation_id)
            .or_else(|| from.get(&conversation_id))
            .copied()
            .unwrap_or(0);
        pages_after(
            rejoin,
            api,
            token,
            conversation_id,
            after,
            last_seq,
            &mut messages,
        )
        .await?;
    }
    Ok(Caught {
        cursor: Some(synced.cursor),
        messages,
    })
}

/// Fetches the messages of each gap, `(conversation, held, highest)`: those after `held`
/// up to `highest` (history pages, as ferry-client's `fill_below`).
async fn rest_fill(
    rejoin: &Rejoin,
    token: &str,
    gaps: &[(ConversationId, i64, i64)],
    seed: u64,
) -> anyhow::Result<Caught> {
    let messages = patiently(rejoin, seed, |api| async move {
        try_rest_fill(rejoin, &api, token, gaps).await
    })
    .await?;
    Ok(Caught {
        cursor: None,
        messages,
    })
}

async fn try_rest_fill(
    rejoin: &Rejoin,
    api: &Api,
    token: &str,
    gaps: &[(ConversationId, i64, i64)],
) -> anyhow::Result<Vec<StoredMessage>> {
    let mut messages = Vec::new();
    for &(conversation_id, held, highest) in gaps {
        pages_after(
            rejoin,
            api,
            token,
            conversation_id,
            held,
            highest,
            &mut messages,
        )
        .await?;
    }
    Ok(messages)
}

/// History pages of `conversation_id` after seq `after` up to `upto` into `out`, as
/// ferry-client reads them.
async fn pages_after(
    rejoin: &Rejoin,
    api: &Api,
    token: &str,
    conversation_id: ConversationId,
    mut after: i64,
    upto: i64,
    out: &mut Vec<StoredMessage>,
) -> anyhow::Result<()> {
    while upto > after {
        let page = {
            let _turn = rejoin.rest_gate.acquire().await?;
            let limit = u32::try_from(upto - after)
                .unwrap_or(REST_PAGE)
                .min(REST_PAGE);
            api.with_token(token)
                .messages_after(conversation_id, after, limit)
                .await?
        };
        let Some(last) = page.messages.last() else {
            break;
        };
        after = last.seq;
        out.extend(page.messages.into_iter().map(stored));
        if !page.has_more {
            break;
        }
    }
    Ok(())
}

fn stored(m: Message) -> StoredMessage {
    StoredMessage {
        id: m.id,
        conversation_id: m.conversation_id,
        seq: m.seq,
        sender_id: m.sender_id,
        body: m.body,
        sealed: m.sealed,
    }
}
