//! [`Committer`]: group commit for messages. Every send, from a socket or from REST, is
//! queued to its conversation's shard; each shard's task takes whatever has queued up (up
//! to [`MAX_BATCH`]), stores it in one transaction, publishes the frames in seq order,
//! then answers each sender.
//!
//! Why a task per shard: a commit costs an fsync and a handful of round trips whether it
//! holds one message or a thousand, so under load the batch grows by itself and
//! throughput follows; under light load a batch is one message and nothing waits. And
//! because a shard's batches commit and publish one after the other, each conversation's
//! frames leave in seq order without any lock of ours, and a socket's pipelined sends to
//! a conversation keep their order (acks keep the socket's order in `ws/connection.rs`). Why several
//! shards: one batch is one database session, which runs on one core; on Postgres, shards
//! (one per core by default) commit side by side. Their conversations never overlap, so
//! their row locks never meet. SQLite has one writer, so it gets one shard.
//!
//! A batch that the database refuses (the same id committed by another node meanwhile,
//! say) is retried one message at a time, so each message gets its own answer; when the
//! database cannot be reached, the whole batch fails at once with a transient error.
//! Each job from a socket carries its [`SocketOrder`], whose fence keeps that socket's
//! later sends to a conversation from overtaking one that failed transiently.

use std::sync::Arc;

use ferry_proto::mls::{ENCRYPTED_REFUSAL, STALE_EPOCH_REFUSAL};
use ferry_proto::{
    ConversationId, ErrorCode, MAX_REACTIONS_PER_MESSAGE, MAX_REACTIONS_PER_USER, Message,
    ServerFrame, UserId,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{mpsc, oneshot};

use crate::announce::Announcer;
use crate::error::{Error, Result};
use crate::fence::SocketOrder;
use crate::store::{Append, NewMessage, Refusal, Store, StoreError};

/// Messages stored in one transaction at most.
pub const MAX_BATCH: usize = 1024;

/// What a send comes to: the stored message and whether it is new (false for an
/// idempotent resend).
pub type Outcome = Result<(Message, bool)>;

/// A queued send.
struct Job {
    message: NewMessage,
    /// Set when it came from a socket.
    order: Option<SocketOrder>,
    reply: oneshot::Sender<Outcome>,
}

/// Where committed sends go: the announcer (their frames), the stored-messages counter,
/// and the queue of message requests accepted by sending (announced by a task that has the whole app, see `crate::background`).
#[derive(Clone)]
pub struct Outlets {
    /// Announces the frames.
    pub announce: Announcer,
    /// Messages stored.
    pub stored: Counter,
    /// Requests accepted by a send.
    pub accepted: mpsc::UnboundedSender<(ConversationId, UserId)>,
    /// Panics contained (see `crate::panics`).
    pub panics: Counter,
}

/// The queues of sends, one per shard, and their committing tasks.
pub struct Committer {
    shards: Vec<mpsc::UnboundedSender<Job>>,
}

impl Committer {
    /// Starts `shards` committing tasks (at least one); they end when the `Committer` is
    /// dropped and their queues are drained.
    pub fn start(
        store: Arc<dyn Store>,
        outlets: Outlets,
        batch_size: Histogram,
        shards: usize,
    ) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| {
                let (queue, jobs) = mpsc::unbounded_channel();
                tokio::spawn(run(
                    store.clone(),
                    outlets.clone(),
                    batch_size.clone(),
                    jobs,
                ));
                queue
            })
            .collect();
        Self { shards }
    }

    /// Queues `message` now (so sends are stored in the order of these calls) and returns
    /// its outcome when committed. `order` is set for a send read from a socket.
    pub fn submit(
        &self,
        message: NewMessage,
        order: Option<SocketOrder>,
    ) -> impl Future<Output = Outcome> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        // Ids are UUIDv7: their low bits are random, so conversations spread evenly.
        let shard = (message.conversation_id.0.as_u64_pair().1 % self.shards.len() as u64) as usize;
        let queued = self.shards[shard].send(Job {
            message,
            order,
            reply,
        });
        async move {
            if queued.is_err() {
                return Err(Error::Unavailable("the server is shutting down".into()));
            }
            answer
                .await
                .unwrap_or_else(|_| Err(Error::Internal("the committer stopped".into())))
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    outlets: Outlets,
    batch_size: Histogram,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        batch_size.observe(batch.len() as f64);
        // A panic drops the batch's answers (each sender gets "the committer stopped",
        // transient, and sends again); the shard takes the next batch.
        let work = commit(&*store, &outlets, std::mem::take(&mut batch));
        crate::panics::contained("a committer shard", &outlets.panics, work).await;
    }
}

/// Stores one batch, publishes what is new, answers every job.
async fn commit(store: &dyn Store, outlets: &Outlets, batch: Vec<Job>) {
    // Fences first: a send that must wait for an earlier failed one is refused unstored.
    let admitted: Vec<Job> = batch.into_iter().filter_map(admit).collect();
    if admitted.is_empty() {
        return;
    }
    let messages: Vec<NewMessage> = admitted.iter().map(|j| j.message.clone()).collect();
    match store.append_batch(&messages).await {
        Ok(appends) => {
            for (job, append) in admitted.into_iter().zip(appends) {
                finish(outlets, job, Ok(append));
            }
        }
        // The database refused a statement (the same id committed by another node, say):
        // one by one, each message gets its own answer. (Not a statement cancelled for
        // its time: one by one, each would wait as long again.)
        Err(e @ StoreError::Database(sqlx::Error::Database(_))) if !e.timed_out() => {
            tracing::warn!(error = %e, size = messages.len(), "batch failed; storing one by one");
            // An earlier message of this batch may fail meanwhile: fences again.
            for job in admitted {
                let Some(job) = admit(job) else {
                    continue;
                };
                let append = store.append(&job.message).await.map_err(Error::from);
                finish(outlets, job, append);
            }
        }
        // The database is unreachable (or failed otherwise): retrying each message would
        // wait out the pool's timeout once per message while the queue grows. The whole
        // batch fails at once, transiently; clients send again.
        Err(e) => {
            let failure = Error::from(e);
            tracing::warn!(error = %failure, size = messages.len(), "batch failed");
            for job in admitted {
                finish(outlets, job, Err(failure.copy()));
            }
        }
    }
}

/// Publishes a stored message, updates the sender's fence, answers the sender.
fn finish(outlets: &Outlets, job: Job, append: Result<Append>) {
    let outcome = match append {
        Ok(Append::Stored {
            message,
            members,
            accepted,
        }) => {
            outlets.stored.inc();
            if accepted {
                // Every node's cached states change; the rest waits for the app.
                outlets.announce.members_changed(message.conversation_id);
                let _ = outlets
                    .accepted
                    .send((message.conversation_id, message.sender_id));
            }
            outlets.announce.frame(
                members,
                job.order.as_ref().map(|o| o.socket),
                &ServerFrame::Message {
                    message: message.clone(),
                },
            );
            Ok((message, true))
        }
        Ok(Append::Existing(message)) => Ok((message, false)),
        Ok(Append::Conflict) => Err(Error::new(
            ErrorCode::Conflict,
            "this message id is already used by a different message",
        )),
        Ok(Append::NotMember) => Err(Error::not_found("conversation")),
        Ok(Append::Refused(refusal)) => Err(refused(refusal)),
        Err(e) => Err(e),
    };
    if let Some(order) = &job.order {
        order.settle(job.message.conversation_id, job.message.id, &outcome);
    }
    let _ = job.reply.send(outcome);
}

/// The error that answers a change or reply the rules refused.
fn refused(refusal: Refusal) -> Error {
    let (code, text) = match refusal {
        Refusal::NoSuchMessage => (
            ErrorCode::NotFound,
            "the message named is not in this conversation",
        ),
        Refusal::NotAMessage => (
            ErrorCode::InvalidRequest,
            "the message named is a change, not a message",
        ),
        Refusal::NotAllowed => (
            ErrorCode::Forbidden,
            "only the author may edit a message, and only the author or the group's owner \
             may delete it",
        ),
        Refusal::TooLate => (
            ErrorCode::Forbidden,
            "the time to edit this message is over",
        ),
        Refusal::Deleted => (ErrorCode::Conflict, "the message was deleted"),
        Refusal::NoSuchUpload => (
            ErrorCode::InvalidRequest,
            "an attachment names no finished upload of yours, or one already sent",
        ),
        Refusal::YouBlocked => (
            ErrorCode::Forbidden,
            "you blocked this person: unblock them before you send",
        ),
        Refusal::BlockedYou => (
            ErrorCode::Forbidden,
            "this person does not take messages from you",
        ),
        Refusal::Encrypted => {
            return Error::new(
                ErrorCode::InvalidRequest,
                format!("{ENCRYPTED_REFUSAL}: seal the message for its group"),
            );
        }
        Refusal::NotEncrypted => (
            ErrorCode::InvalidRequest,
            "this conversation is not end-to-end encrypted: send the message in the open",
        ),
        Refusal::StaleEpoch => {
            return Error::new(
                ErrorCode::Conflict,
                format!("{STALE_EPOCH_REFUSAL}: apply its commits, then seal the message again"),
            );
        }
        Refusal::TooManyReactions => {
            return Error::new(
                ErrorCode::Conflict,
                format!(
                    "a message takes at most {MAX_REACTIONS_PER_MESSAGE} different reactions, \
                     and at most {MAX_REACTIONS_PER_USER} from one person"
                ),
            );
        }
    };
    Error::new(code, text)
}

/// The job, if its socket's fence lets it through; otherwise it is answered here.
fn admit(job: Job) -> Option<Job> {
    if let Some(order) = &job.order
        && let Err(refusal) = order.admit(
            job.message.conversation_id,
            job.message.id,
            job.message.change.as_ref(),
        )
    {
        let _ = job.reply.send(Err(refusal));
        return None;
    }
    Some(job)
}
