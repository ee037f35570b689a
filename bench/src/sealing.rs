//! Encrypted conversations for the benchmarks (issue 31's cost, B3e and B4e). Every
//! user's device is an MLS member made by the client core's own code
//! (`ferry_client::mls::Device`, its state kept in memory instead of a local database),
//! and every conversation of the world gets its group through the server's delivery
//! service as the client core makes it: each device publishes key packages, each
//! conversation's first member claims the others' and commits the group with their
//! welcome, and each device joins with the welcomes the server keeps for it. From then on
//! the server refuses a plain send there, and a connection seals what it sends.
//!
//! **Who opens what.** Each sealed entry is opened by one recipient: the conversation's
//! first member, or its second for what the first one sent. That recipient checks the
//! opened text against what was sent; every other recipient counts the delivery of the
//! sealed bytes without opening them. Opening at every recipient would do the work of one
//! device per recipient in this one process (B4: 99 devices per message) on the cores the
//! server is measured on; what one open costs a recipient's device is reported per
//! message instead, as is what one seal costs the sender's.
//!
//! **The book.** A recipient that does not open an entry cannot read its scheduled time
//! from the text, so the sender writes each sealed send's scheduled time, phase and
//! content into a book all connections share (one process), read by id on delivery.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use ferry_client::Api;
use ferry_client::mls::Device;
use ferry_proto::mls::{MlsBytes, SealedContent};
use ferry_proto::{ConversationId, MessageId, UserId};
use futures_util::{StreamExt, TryStreamExt};

use crate::clock::micros;
use crate::lock;
use crate::setup::World;

/// Requests to the server at once while setting up.
const PARALLEL: usize = 32;

/// The most one-time key packages a device may have waiting (the server's limit), and so
/// the most groups a device can be added to here.
const MOST_WAITING: usize = 100;

/// What a sealed send was, for its recipients.
struct Sent {
    scheduled_us: u64,
    phase: usize,
    content: SealedContent,
}

/// Every sealed send of the run, by id.
type Book = Arc<Mutex<HashMap<MessageId, Sent>>>;

/// A sealed entry waiting to be opened.
struct Waiting {
    id: MessageId,
    sealed: MlsBytes,
}

/// A connection's device and what it opens.
pub struct Sealer {
    device: Device,
    /// The conversations this device opens entries of: from one sender only (`Some`), or
    /// from every sender but itself.
    opens: HashMap<ConversationId, Option<UserId>>,
    /// Entries to open, by conversation and seq: a device opens a conversation's entries
    /// in seq order (the client core does, and MLS keeps only a few skipped keys of a
    /// sender), so one that came before an entry below it waits for that one.
    waiting: HashMap<ConversationId, BTreeMap<i64, Waiting>>,
    book: Book,
}

impl Sealer {
    /// Seals `content` for the conversation's group and writes it into the book, with the
    /// time it took (µs).
    pub fn seal(
        &mut self,
        id: MessageId,
        conversation: ConversationId,
        content: SealedContent,
        scheduled_us: u64,
        phase: usize,
    ) -> anyhow::Result<(MlsBytes, u64)> {
        let started = Instant::now();
        let sealed = self
            .device
            .seal(conversation, &content)?
            .context("this device is not in the conversation's group")?;
        let took = micros(started.elapsed());
        lock(&self.book).insert(
            id,
            Sent {
                scheduled_us,
                phase,
                content,
            },
        );
        Ok((sealed, took))
    }

    /// Sealed entry `seq` (`id`) from `sender` arrived: when and in which phase it was
    /// scheduled (from the book), and kept to open ([`Sealer::open_up_to`]) when this
    /// device is its opener.
    pub fn arrived(
        &mut self,
        id: MessageId,
        conversation: ConversationId,
        seq: i64,
        sender: UserId,
        sealed: &MlsBytes,
    ) -> Option<(u64, usize)> {
        let opens = match self.opens.get(&conversation) {
            Some(Some(only)) => *only == sender,
            Some(None) => true,
            None => false,
        };
        if opens {
            let waiting = Waiting {
                id,
                sealed: sealed.clone(),
            };
            self.waiting
                .entry(conversation)
                .or_default()
                .insert(seq, waiting);
        }
        lock(&self.book).get(&id).map(|s| (s.scheduled_us, s.phase))
    }

    /// Opens, in seq order, the conversation's waiting entries up to `held` (the highest
    /// seq this connection has with none missing below): for each, the time it took
    /// (µs), or why it did not open to what was sealed.
    pub fn open_up_to(
        &mut self,
        conversation: ConversationId,
        held: i64,
    ) -> Vec<Result<u64, String>> {
        let Some(waiting) = self.waiting.get_mut(&conversation) else {
            return Vec::new();
        };
        let later = waiting.split_off(&(held + 1));
        let ready = std::mem::replace(waiting, later);
        if waiting.is_empty() {
            self.waiting.remove(&conversation);
        }
        ready
            .into_values()
            .map(|entry| {
                let started = Instant::now();
                let opened = self.device.unseal(conversation, &entry.sealed);
                let took = micros(started.elapsed());
                let book = lock(&self.book);
                match (opened, book.get(&entry.id)) {
                    (Err(e), _) => Err(format!("{e}")),
                    (Ok(_), None) => Err("an entry nobody here sealed".to_owned()),
                    (Ok(content), Some(sent)) if content == sent.content => Ok(took),
                    (Ok(_), Some(_)) => Err("opened to something else than was sealed".to_owned()),
                }
            })
            .collect()
    }

    /// Entries still waiting for one below them.
    pub fn unopened(&self) -> usize {
        self.waiting.values().map(BTreeMap::len).sum()
    }
}

/// Every conversation of a world made encrypted.
pub struct Groups {
    /// Each user's sealer, in the order of [`World::users`].
    pub sealers: Vec<Sealer>,
    /// The largest first commit's request: commit, group info and welcome (bytes, before
    /// base64).
    pub largest_commit_bytes: usize,
}

/// Makes every conversation of `world` (whose server is at `addr`) encrypted.
pub async fn establish(addr: &str, world: &World) -> anyhow::Result<Groups> {
    let api = Api::new(&format!("http://{addr}"))?;
    let apis: Vec<Api> = world.tokens().iter().map(|t| api.with_token(t)).collect();
    let mut devices: Vec<Device> = world
        .users
        .iter()
        .zip(&world.sessions)
        .map(|(&user, &session)| Device::in_memory(user, session))
        .collect();
    // One one-time key package for each group a device is added to.
    let mut added = vec![0usize; devices.len()];
    for c in &world.conversations {
        for &m in &c.members[1..] {
            added[m] += 1;
        }
    }
    let mut publishes = Vec::new();
    for (i, device) in devices.iter_mut().enumerate() {
        anyhow::ensure!(
            added[i] <= MOST_WAITING,
            "user {i} is in more groups than a device can have key packages waiting for"
        );
        if added[i] > 0 {
            publishes.push((i, device.key_packages(added[i], false)?));
        }
    }
    futures_util::stream::iter(publishes)
        .map(|(i, packages)| {
            let api = &apis[i];
            async move { api.publish_key_packages(packages).await }
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<_>>()
        .await
        .context("publishing key packages")?;
    let mut largest_commit_bytes = 0;
    for c in &world.conversations {
        let creator = c.members[0];
        let others: Vec<UserId> = c.members[1..].iter().map(|&m| world.users[m]).collect();
        let claimed = apis[creator]
            .claim_key_packages(&others)
            .await
            .context("claiming key packages")?;
        anyhow::ensure!(
            claimed.key_packages.len() == others.len() && claimed.without_keys.is_empty(),
            "a claim for {} devices gave {} key packages",
            others.len(),
            claimed.key_packages.len()
        );
        let commit = devices[creator].create(c.id, &claimed)?;
        largest_commit_bytes = largest_commit_bytes.max(
            commit.commit.0.len()
                + commit.group_info.0.len()
                + commit.welcome.as_ref().map_or(0, |w| w.0.len()),
        );
        apis[creator]
            .submit_commit(c.id, &commit)
            .await
            .context("a group's first commit")?;
        devices[creator].committed(c.id)?;
    }
    let welcomes = futures_util::stream::iter(apis.iter().enumerate())
        .map(|(i, api)| async move { api.welcomes().await.map(|w| (i, w)) })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<_>>()
        .await
        .context("reading welcomes")?;
    let mut joined = Vec::new();
    for (i, waiting) in welcomes {
        anyhow::ensure!(
            waiting.len() == added[i],
            "user {i} has {} welcomes for {} groups",
            waiting.len(),
            added[i]
        );
        for welcome in waiting {
            devices[i].join(&welcome)?;
            joined.push((i, welcome.id));
        }
    }
    // As a device does once it joined: the server keeps a welcome until then.
    futures_util::stream::iter(joined)
        .map(|(i, id)| apis[i].drop_welcome(id))
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<_>>()
        .await
        .context("deleting welcomes")?;
    let mut opens: Vec<HashMap<ConversationId, Option<UserId>>> =
        vec![HashMap::new(); devices.len()];
    for c in &world.conversations {
        opens[c.members[0]].insert(c.id, None);
        opens[c.members[1]].insert(c.id, Some(world.users[c.members[0]]));
    }
    let book = Book::default();
    let sealers = devices
        .into_iter()
        .zip(opens)
        .map(|(device, opens)| Sealer {
            device,
            opens,
            waiting: HashMap::new(),
            book: book.clone(),
        })
        .collect();
    Ok(Groups {
        sealers,
        largest_commit_bytes,
    })
}

#[cfg(test)]
mod tests {
    use ferry_proto::mls::{ClaimedKeyPackage, ClaimedKeyPackages, Device as Named, Welcome};
    use ferry_proto::{SessionId, WelcomeId};

    use super::*;

    /// Two devices in one group, made without a server: the first seals, the second opens.
    fn pair(chat: ConversationId) -> (Sealer, Sealer) {
        let (alice, bob) = (UserId::new(), UserId::new());
        let mut a = Device::in_memory(alice, SessionId::new());
        let session = SessionId::new();
        let mut b = Device::in_memory(bob, session);
        let package = b.key_packages(1, false).expect("a key package").remove(0);
        let claimed = ClaimedKeyPackages {
            key_packages: vec![ClaimedKeyPackage {
                device: Named {
                    user_id: bob,
                    session_id: session,
                },
                key_package: package,
            }],
            without_keys: Vec::new(),
        };
        let commit = a.create(chat, &claimed).expect("a group");
        a.committed(chat).expect("merged");
        let welcome = Welcome {
            id: WelcomeId::new(),
            conversation_id: chat,
            epoch: 1,
            welcome: commit.welcome.expect("a welcome"),
        };
        b.join(&welcome).expect("joined");
        let book = Book::default();
        let sealer = |device, opens| Sealer {
            device,
            opens,
            waiting: HashMap::new(),
            book: book.clone(),
        };
        (
            sealer(a, HashMap::from([(chat, None)])),
            sealer(b, HashMap::from([(chat, Some(alice))])),
        )
    }

    #[test]
    fn entries_open_in_seq_order_and_a_changed_one_does_not() {
        let chat = ConversationId::new();
        let (mut a, mut b) = pair(chat);
        let alice = match b.opens[&chat] {
            Some(alice) => alice,
            None => unreachable!("b opens alice's entries"),
        };
        let mut seal = |text: &str| {
            let id = MessageId::new();
            let content = SealedContent {
                body: text.into(),
                ..SealedContent::default()
            };
            (id, a.seal(id, chat, content, 7, 0).expect("sealed").0)
        };
        let (one, two, three) = (seal("one"), seal("two"), seal("three"));

        // The second came first: it waits for the first.
        assert_eq!(b.arrived(two.0, chat, 2, alice, &two.1), Some((7, 0)));
        assert!(b.open_up_to(chat, 0).is_empty());
        assert_eq!(b.unopened(), 1);
        b.arrived(one.0, chat, 1, alice, &one.1);
        let opened = b.open_up_to(chat, 2);
        assert_eq!(opened.len(), 2);
        assert!(opened.iter().all(Result::is_ok), "{opened:?}");
        assert_eq!(b.unopened(), 0);

        // Bytes changed on the way do not open.
        let mut changed = three.1.clone();
        let last = changed.0.len() - 1;
        changed.0[last] ^= 1;
        b.arrived(three.0, chat, 3, alice, &changed);
        let opened = b.open_up_to(chat, 3);
        assert!(matches!(opened.as_slice(), [Err(_)]), "{opened:?}");
    }
}
