//! [`Link`]: one connected socket, served until it ends.
//!
//! First the catch-up (while still answering the server's pings, and keeping the live
//! frames that arrive meanwhile for after it), the `delivered` and read marks that are
//! due, then the live loop: pump the outbox through the socket within its send window,
//! read frames in bursts (a run of acks is confirmed in one store transaction), send
//! what the client queued (read marks, typing), expire others' typing, refresh the
//! token before it expires and hand the new one to the socket, and take devices whose
//! session ended out of the groups (now and then, and soon after the server says one
//! did). A link that is silent for three heartbeat periods, or that stops reading what
//! is written, is dead and is dropped, whatever TCP says. The link's [`Outbox`] knows
//! what is in flight on it; it dies with the link, and the next one sends again what was
//! not acked (the server stores an id once).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ferry_proto::{ClientFrame, ConversationId, ServerFrame, close};
use futures_util::stream::{ReadyChunks, SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage, Utf8Bytes};

use super::End;
use super::apply::{self, confirmed, refused};
use super::catch_up::catch_up;
use super::connect::Socket;
use super::e2e;
use crate::Shared;
use crate::events::{ConnectionState, Event};
use crate::outbox::{Answer, Outbox, Verdict, Window};
use crate::store::Confirmation;

/// Frames read from the socket at once, when that many have arrived: a burst of acks is
/// then confirmed in one store transaction instead of one each.
const READ_BURST: usize = 128;
/// Outbox entries read from the store at a time when filling the send window.
const OUTBOX_PAGE: i64 = 1024;

/// One live connection.
pub(super) struct Link<'a> {
    shared: &'a Shared,
    sink: SplitSink<Socket, WsMessage>,
    stream: ReadyChunks<SplitStream<Socket>>,
    heartbeat: Duration,
    outbox: Outbox,
    /// When the earliest rescheduled outbox entry becomes due.
    retry_at: Option<Instant>,
    /// The server said live frames were lost: catch up before reading on.
    resync: bool,
    /// When to take devices whose session ended out of the groups, as the server said
    /// one did (`mls_session_ended`), and which devices it named.
    sweep_at: Option<Instant>,
    told_ended: HashSet<ferry_proto::mls::Device>,
}

impl<'a> Link<'a> {
    pub(super) fn new(shared: &'a Shared, socket: Socket, heartbeat: Duration) -> Self {
        let (sink, stream) = socket.split();
        Self {
            shared,
            sink,
            stream: stream.ready_chunks(READ_BURST),
            heartbeat,
            outbox: Outbox::new(Window::SOCKET),
            retry_at: None,
            resync: false,
            sweep_at: None,
            told_ended: HashSet::new(),
        }
    }

    pub(super) async fn serve(mut self, stop: &mut watch::Receiver<bool>) -> End {
        let end = self.serve_inner(stop).await;
        // A peer that stopped reading must not hold up reconnecting or stopping.
        let _ = tokio::time::timeout(self.heartbeat, self.sink.close()).await;
        end
    }

    async fn serve_inner(&mut self, stop: &mut watch::Receiver<bool>) -> End {
        if let Err(end) = self.catch_up(stop).await {
            return end;
        }
        self.shared.set_state(ConnectionState::Online);

        let mut last_heard = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        // After catch-up's own sweep, the next one a while later.
        let every = e2e::ENDED_SESSIONS_LOOK;
        let mut sweep = tokio::time::interval_at(Instant::now() + every, every);
        loop {
            let retry = self.retry_at;
            let told_sweep = self.sweep_at;
            let refresh_in = self.shared.session.refresh_in();
            let result = tokio::select! {
                _ = stop.changed() => return End::Stop,
                incoming = self.stream.next() => {
                    last_heard = Instant::now();
                    let (texts, ending) = split_burst(incoming);
                    let applied = self.on_texts(&texts).await;
                    match ending {
                        Some(ending) if applied.is_ok() => return self.on_ending(ending).await,
                        _ => applied,
                    }
                }
                () = self.shared.wake.notified() => self.on_wake().await,
                () = sleep_until(retry) => {
                    self.retry_at = None;
                    self.pump().await
                }
                // Refresh before the token expires, and hand the new one to the socket.
                () = tokio::time::sleep(refresh_in) => self.refresh_token().await,
                _ = sweep.tick() => e2e::look_again(self.shared).await,
                () = self.shared.session_ended.notified() => {
                    e2e::take_out_ended_sessions(self.shared).await
                }
                () = sleep_until(told_sweep) => self.take_out_told_ended().await,
                _ = tick.tick() => {
                    if last_heard.elapsed() > self.heartbeat * 3 {
                        return End::Reconnect(Some(Duration::ZERO), "the server stopped answering".into());
                    }
                    self.on_tick().await
                }
            };
            if let Err(end) = result {
                return end;
            }
            // The server lost live frames meant for us (`resync`): catch up as after a
            // reconnect, on the same socket.
            if std::mem::take(&mut self.resync) {
                if let Err(end) = self.catch_up(stop).await {
                    return end;
                }
                last_heard = Instant::now();
            }
        }
    }

    /// Catches up through REST, then does what is due after it (`after_catch_up`).
    async fn catch_up(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), End> {
        // The socket is read all through catch-up: a long catch-up must still answer the
        // server's pings, or the server drops the link as dead and the client starts the
        // catch-up over. Live frames that arrive meanwhile wait, in order, until it is done.
        let mut held = Vec::new();
        let caught_up = {
            let catching_up = catch_up(self.shared);
            tokio::pin!(catching_up);
            loop {
                tokio::select! {
                    result = &mut catching_up => break result,
                    _ = stop.changed() => return Err(End::Stop),
                    incoming = self.stream.next() => {
                        let (texts, ending) = split_burst(incoming);
                        held.extend(texts);
                        if let Some(ending) = ending {
                            return Err(self.on_ending(ending).await);
                        }
                    }
                }
            }
        };
        self.after_catch_up(&held, caught_up?).await
    }

    /// What is due once caught up: the live frames held meanwhile, the `delivered` marks,
    /// the read marks and notification levels made offline, then the outbox.
    async fn after_catch_up(
        &mut self,
        held: &[Utf8Bytes],
        delivered: HashMap<ConversationId, i64>,
    ) -> Result<(), End> {
        self.on_texts(held).await?;
        let reads = self.shared.store.unsent_reads(self.shared.me_id)?;
        let delivered =
            delivered
                .into_iter()
                .map(|(conversation_id, seq)| ClientFrame::Delivered {
                    conversation_id,
                    seq,
                });
        let reads = reads
            .into_iter()
            .map(|(conversation_id, seq)| ClientFrame::Read {
                conversation_id,
                seq,
            });
        for mark in delivered.chain(reads) {
            self.feed(&mark).await?;
        }
        // Levels and do-not-disturb chosen offline (usually none: then this is a local
        // query, and once per run the account's settings).
        if let Err(e) = crate::conversations::send_unsent_notifications(self.shared).await {
            tracing::debug!(error = %e, "notification levels not sent yet");
        }
        if let Err(e) = crate::quiet::settle(self.shared).await {
            tracing::debug!(error = %e, "do-not-disturb not settled yet");
        }
        // Keys, welcomes and groups, before the outbox seals anything.
        e2e::prepare(self.shared).await?;
        // The link is back: whatever waited for a retry may go now.
        self.shared.store.reset_outbox_schedule()?;
        self.pump().await?;
        e2e::settle_groups(self.shared).await
    }

    /// Queues a frame on the socket without flushing (several frames, one write).
    async fn feed(&mut self, frame: &ClientFrame) -> Result<(), End> {
        let text = serde_json::to_string(frame).map_err(|e| End::Reconnect(None, e.to_string()))?;
        let limit = self.heartbeat * 3;
        within(limit, self.sink.feed(WsMessage::Text(text.into()))).await
    }

    async fn flush(&mut self) -> Result<(), End> {
        within(self.heartbeat * 3, self.sink.flush()).await
    }

    /// Takes the devices the server said ended (`mls_session_ended`) out of this
    /// device's groups, if one of them is still in one.
    async fn take_out_told_ended(&mut self) -> Result<(), End> {
        self.sweep_at = None;
        let ended = std::mem::take(&mut self.told_ended);
        e2e::take_out_told_ended(self.shared, &ended).await
    }

    /// Sends what the outbox lets go now, in compose order, pipelined: read a page at a
    /// time, only as far as the send window reaches.
    async fn pump(&mut self) -> Result<(), End> {
        // Told of an ended session and still waiting its random moment to look (so that
        // not every device told commits the removal): a device with something to seal
        // looks now, or what it seals meanwhile would be sealed for that device too.
        if !self.told_ended.is_empty() && !self.shared.store.outbox_page(i64::MIN, 1)?.is_empty() {
            self.take_out_told_ended().await?;
        }
        self.outbox.begin(self.shared.options.clock.now());
        let mut after = i64::MIN;
        loop {
            let page = self.shared.store.outbox_page(after, OUTBOX_PAGE)?;
            let last_page = (page.len() as i64) < OUTBOX_PAGE;
            let mut going = Vec::new();
            let mut full = false;
            for item in page {
                after = item.position;
                if self.outbox.is_full() {
                    full = true;
                    break;
                }
                if self.outbox.offer(&item) {
                    going.push(item);
                }
            }
            // Recorded before a byte is written: from here an edit goes as an edit.
            self.shared.store.claim_for_sending(&mut going)?;
            for item in &going {
                // Once one entry of a conversation waits, the rest of it waits behind it.
                let conversation = item.conversation_id;
                let going = if self.outbox.holds(conversation) {
                    None
                } else {
                    let in_flight = self.outbox.epoch_in_flight(conversation);
                    e2e::outgoing(self.shared, item, in_flight).await?
                };
                let Some((message, epoch)) = going else {
                    self.outbox.withdraw(item.message_id);
                    continue;
                };
                self.outbox.went(item.message_id, epoch);
                self.feed(&ClientFrame::Send { message }).await?;
            }
            if full || last_page {
                break;
            }
        }
        self.retry_at = self.outbox.next_due_in().map(|due| Instant::now() + due);
        self.flush().await
    }

    async fn on_wake(&mut self) -> Result<(), End> {
        let frames = self.shared.take_outgoing();
        for frame in &frames {
            self.feed(frame).await?;
        }
        self.pump().await
    }

    async fn on_tick(&mut self) -> Result<(), End> {
        for (conversation, user) in self.shared.typing().expire(Instant::now()) {
            self.shared.emit(Event::Typing {
                conversation_id: conversation,
                user_id: user,
                typing: false,
            });
        }
        Ok(())
    }

    async fn refresh_token(&mut self) -> Result<(), End> {
        let fresh = self.shared.session.refresh().await?;
        self.feed(&ClientFrame::Auth {
            access_token: fresh.access_token,
        })
        .await?;
        self.flush().await
    }

    async fn on_close(&mut self, code: Option<u16>) -> End {
        match code {
            Some(close::TOKEN_EXPIRED) => match self.shared.session.refresh().await {
                Ok(_) => End::Reconnect(Some(Duration::ZERO), "token refreshed".into()),
                Err(e) => e.into(),
            },
            Some(close::TOO_MANY_FRAMES) => End::Reconnect(
                Some(Duration::from_secs(5)),
                "too many frames; slowing down".into(),
            ),
            Some(code) => {
                End::Reconnect(None, format!("the server closed the connection ({code})"))
            }
            None => End::Reconnect(None, "the server closed the connection".into()),
        }
    }

    async fn on_ending(&mut self, ending: Ending) -> End {
        match ending {
            Ending::Closed(code) => self.on_close(code).await,
            Ending::Lost(why) => End::Reconnect(None, why),
        }
    }

    /// Applies frames that arrived together, in order; each run of acks among them is
    /// confirmed in one store transaction.
    async fn on_texts(&mut self, texts: &[Utf8Bytes]) -> Result<(), End> {
        let mut acks = Vec::new();
        for text in texts {
            // A frame type from a newer server is not an error: skip it. An error frame
            // with a code this client does not know still answers its send.
            let Ok(frame) = serde_json::from_str::<ServerFrame>(text) else {
                match serde_json::from_str::<UnknownError>(text) {
                    Ok(e) if e.kind == "error" => {
                        self.on_acks(std::mem::take(&mut acks)).await?;
                        self.on_error(e.reference, None, e.message, e.retry_after_ms)
                            .await?;
                    }
                    _ => tracing::debug!("skipping an unknown frame"),
                }
                continue;
            };
            match confirmation(&frame) {
                Some(ack) => acks.push(ack),
                None => {
                    self.on_acks(std::mem::take(&mut acks)).await?;
                    self.on_frame(frame).await?;
                }
            }
        }
        self.on_acks(acks).await
    }

    async fn on_acks(&mut self, acks: Vec<Confirmation>) -> Result<(), End> {
        if acks.is_empty() {
            return Ok(());
        }
        let now = self.shared.options.clock.now();
        for ack in &acks {
            self.outbox.answer(Answer::Stored(ack.id), now);
        }
        confirmed(self.shared, &acks).await?;
        if self.outbox.wants_more() {
            self.pump().await?;
        }
        Ok(())
    }

    /// An `error` frame: the refusal of a send (`reference`), or of another frame. `code`
    /// is `None` when this client could not read it.
    async fn on_error(
        &mut self,
        reference: Option<ferry_proto::MessageId>,
        code: Option<ferry_proto::ErrorCode>,
        message: String,
        retry_after_ms: Option<u64>,
    ) -> Result<(), End> {
        let verdict = match reference {
            Some(id) => {
                let answer = Answer::Refused {
                    id,
                    code,
                    message: &message,
                    retry_after_ms,
                };
                let verdict = self.outbox.answer(answer, self.shared.options.clock.now());
                refused(self.shared, id, &verdict).await?;
                verdict
            }
            None => Verdict::NotOurs,
        };
        if verdict == Verdict::NotOurs {
            tracing::debug!(?code, message, "a frame failed");
        } else if self.outbox.wants_more() {
            self.pump().await?;
        }
        Ok(())
    }

    async fn on_frame(&mut self, frame: ServerFrame) -> Result<(), End> {
        match frame {
            // Acks never come here: on_texts confirms them in runs (on_acks).
            ServerFrame::Ack { .. } => {}
            ServerFrame::Error {
                reference,
                code,
                message,
                retry_after_ms,
            } => {
                self.on_error(reference, Some(code), message, retry_after_ms)
                    .await?
            }
            ServerFrame::Resync => self.resync = true,
            ServerFrame::MlsSessionEnded {
                user_id,
                session_id,
            } => {
                self.told_ended.insert(ferry_proto::mls::Device {
                    user_id,
                    session_id,
                });
                let at = Instant::now() + e2e::delay_after_an_end();
                self.sweep_at = Some(self.sweep_at.map_or(at, |due| due.min(at)));
            }
            frame => {
                if let Some((conversation_id, seq)) = apply::frame(self.shared, frame).await? {
                    self.feed(&ClientFrame::Delivered {
                        conversation_id,
                        seq,
                    })
                    .await?;
                    self.flush().await?;
                }
            }
        }
        Ok(())
    }
}

/// An `error` frame read without its code, which this client does not know (a newer
/// server's): its send is answered all the same, as refused for now, as REST does with
/// a code it cannot read. Skipped, it would stay in flight until the socket ends.
#[derive(serde::Deserialize)]
struct UnknownError {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "ref", default)]
    reference: Option<ferry_proto::MessageId>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

/// The store's confirmation that an `ack` frame carries.
fn confirmation(frame: &ServerFrame) -> Option<Confirmation> {
    match *frame {
        ServerFrame::Ack {
            id,
            conversation_id,
            seq,
            created_at,
        } => Some(Confirmation {
            id,
            conversation_id,
            seq,
            created_at,
        }),
        _ => None,
    }
}

/// How a link ended while reading it.
enum Ending {
    /// A close frame, with its code.
    Closed(Option<u16>),
    /// The connection broke or closed without one.
    Lost(String),
}

/// Splits what one read brought into its text frames and, if the link ended within it,
/// how (what came after the end is moot).
fn split_burst(
    incoming: Option<Vec<Result<WsMessage, tungstenite::Error>>>,
) -> (Vec<Utf8Bytes>, Option<Ending>) {
    let Some(items) = incoming else {
        return (Vec::new(), Some(Ending::Lost("connection closed".into())));
    };
    let mut texts = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Ok(WsMessage::Text(text)) => texts.push(text),
            Ok(WsMessage::Close(frame)) => {
                return (
                    texts,
                    Some(Ending::Closed(frame.map(|f| u16::from(f.code)))),
                );
            }
            Ok(_) => {}
            Err(e) => return (texts, Some(Ending::Lost(format!("connection lost: {e}")))),
        }
    }
    (texts, None)
}

/// A write, bounded: a socket the server no longer reads would block it for ever, so the
/// heartbeat rule applies to writes as well.
async fn within(
    limit: Duration,
    write: impl Future<Output = Result<(), tungstenite::Error>>,
) -> Result<(), End> {
    match tokio::time::timeout(limit, write).await {
        Ok(result) => result.map_err(|e| End::Reconnect(None, format!("connection lost: {e}"))),
        Err(_) => Err(End::Reconnect(
            Some(Duration::ZERO),
            "the server stopped reading".into(),
        )),
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_frame_with_a_code_from_a_newer_server_still_names_its_send() {
        let id = ferry_proto::MessageId::new();
        let text = format!(
            r#"{{"type":"error","ref":"{id}","code":"not_yet_invented","message":"later","retry_after_ms":5}}"#
        );
        assert!(serde_json::from_str::<ServerFrame>(&text).is_err());
        let error: UnknownError = serde_json::from_str(&text).expect("read without its code");
        assert_eq!(
            (
                error.kind.as_str(),
                error.reference,
                error.message.as_str(),
                error.retry_after_ms
            ),
            ("error", Some(id), "later", Some(5))
        );
        // Any other frame of a newer server stays unknown, not an error.
        let other: UnknownError =
            serde_json::from_str(r#"{"type":"hologram","at":1}"#).expect("read");
        assert_eq!((other.kind.as_str(), other.reference), ("hologram", None));
    }
}
