//! [`Coalescer`]: lookups that are asked at the same time, answered by one query.
//!
//! Every socket and every request checks its session, and every user who comes online
//! looks up whom to tell. One at a time that is a database round trip each, and after a
//! restart 10k clients ask within a second or two (B6 in docs/benchmarks.md): they queued
//! for the pool behind each other. A coalescer's task takes whatever lookups have queued
//! up (up to [`MAX_KEYS`]), asks the database once for all of them, and answers each, as
//! the committer does for sends. Under light load a batch is one key and nothing waits.
//! Nothing is cached: each answer comes from a query that started after it was asked, so
//! it is exactly as fresh as asking alone (a logout is seen by every later check).

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::error::{Error, Result};
use crate::store::StoreResult;

/// Keys asked in one query at most (SQLite binds each as a parameter).
pub const MAX_KEYS: usize = 512;

/// Queries in flight at once: while they run, the next lookups queue into the next batch.
/// Two, for the two cores: one batch's round trip overlaps the other's.
const IN_FLIGHT: usize = 2;

/// One query for many keys: the values found (a key missing from the map gets
/// `V::default()`).
pub type Lookup<K, V> =
    Arc<dyn Fn(Vec<K>) -> BoxFuture<'static, StoreResult<HashMap<K, V>>> + Send + Sync>;

type Ask<K, V> = (K, oneshot::Sender<Result<V>>);

/// A queue of lookups and the task that answers them in batches.
pub struct Coalescer<K, V> {
    asks: mpsc::UnboundedSender<Ask<K, V>>,
}

impl<K, V> Coalescer<K, V>
where
    K: Clone + Eq + Hash + Send + 'static,
    V: Clone + Default + Send + 'static,
{
    /// Starts the answering task (it ends when the `Coalescer` is dropped).
    pub fn new(lookup: Lookup<K, V>) -> Self {
        let (asks, queue) = mpsc::unbounded_channel();
        tokio::spawn(answer(queue, lookup));
        Self { asks }
    }

    /// The value for `key`, from a query that starts after this call.
    pub async fn get(&self, key: K) -> Result<V> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Error::Internal("the lookup task stopped".into());
        self.asks.send((key, reply)).map_err(|_| stopped())?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn answer<K, V>(mut queue: mpsc::UnboundedReceiver<Ask<K, V>>, lookup: Lookup<K, V>)
where
    K: Clone + Eq + Hash + Send + 'static,
    V: Clone + Default + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        // Take a slot first: while every slot is busy, asks pile up for the next batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::new();
        if queue.recv_many(&mut batch, MAX_KEYS).await == 0 {
            return;
        }
        let lookup = lookup.clone();
        tokio::spawn(async move {
            let keys: HashSet<K> = batch.iter().map(|(key, _)| key.clone()).collect();
            match lookup(keys.into_iter().collect()).await {
                Ok(found) => {
                    for (key, reply) in batch {
                        let _ = reply.send(Ok(found.get(&key).cloned().unwrap_or_default()));
                    }
                }
                Err(e) => {
                    let failure = Error::from(e);
                    tracing::warn!(error = %failure, size = batch.len(), "lookup failed");
                    for (_, reply) in batch {
                        let _ = reply.send(Err(failure.copy()));
                    }
                }
            }
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::FutureExt;
    use futures_util::future::join_all;

    use super::*;
    use crate::store::StoreError;

    /// Squares, counting the queries and holding each until `gate` opens, so that asks
    /// made meanwhile must wait for a later batch.
    fn squares(queries: Arc<AtomicUsize>, gate: Arc<Semaphore>) -> Lookup<u64, u64> {
        Arc::new(move |keys: Vec<u64>| {
            let queries = queries.clone();
            let gate = gate.clone();
            async move {
                queries.fetch_add(1, Ordering::SeqCst);
                let _open = gate.acquire().await.expect("gate");
                let odd: HashMap<u64, u64> = keys
                    .into_iter()
                    .filter(|k| k % 2 == 1)
                    .map(|k| (k, k * k))
                    .collect();
                Ok(odd)
            }
            .boxed()
        })
    }

    #[tokio::test]
    async fn asks_made_together_share_a_query_and_each_gets_its_own_answer() {
        let queries = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Semaphore::new(0));
        let coalescer = Arc::new(Coalescer::new(squares(queries.clone(), gate.clone())));
        // The first ask takes a slot and is held at the gate; the next 100 (and a repeat of
        // one) queue meanwhile.
        let first = tokio::spawn({
            let c = coalescer.clone();
            async move { c.get(1).await }
        });
        while queries.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // One poll of `join_all` queues every ask at once, before the answering task runs
        // again (the test runtime has one thread).
        let keys: Vec<u64> = (0..100u64).chain([3]).collect();
        let mut asks = Box::pin(join_all(keys.iter().map(|&k| coalescer.get(k))));
        assert!((&mut asks).now_or_never().is_none());
        gate.add_permits(1_000);
        assert_eq!(first.await.expect("task").expect("answer"), 1);
        for (k, answer) in keys.iter().zip(asks.await) {
            let expected = if k % 2 == 1 { k * k } else { 0 };
            assert_eq!(answer.expect("answer"), expected, "key {k}");
        }
        // One query for the first ask, and one for the 101 asked while it was held.
        assert_eq!(queries.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_query_fails_every_ask_in_its_batch() {
        let failing: Lookup<u64, u64> = Arc::new(|_keys: Vec<u64>| {
            async { Err(StoreError::Database(sqlx::Error::PoolTimedOut)) }.boxed()
        });
        let coalescer = Coalescer::new(failing);
        let answers = join_all((0..10).map(|k| coalescer.get(k))).await;
        for answer in answers {
            assert!(matches!(answer, Err(Error::Unavailable(_))), "{answer:?}");
        }
    }

    #[tokio::test]
    async fn a_panicking_query_fails_its_asks_and_the_next_batch_is_answered() {
        let picky: Lookup<u64, u64> = Arc::new(|keys: Vec<u64>| {
            async move {
                assert!(!keys.contains(&13), "unlucky");
                Ok(keys.into_iter().map(|k| (k, k + 1)).collect())
            }
            .boxed()
        });
        let coalescer = Coalescer::new(picky);
        assert!(coalescer.get(13).await.is_err(), "its ask fails");
        // The answering task lives on: its slot came back when the query's task ended.
        for k in 0..(IN_FLIGHT as u64 + 2) {
            assert_eq!(coalescer.get(k).await.expect("answered"), k + 1);
        }
    }
}
