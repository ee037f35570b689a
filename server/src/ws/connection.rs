//! One socket's life once upgraded: registered in the hub, then a [`Connection`] that
//! reads the client's frames in order, pipelines its sends to the committer with acks in
//! send order, writes what the hub queues (gap-filled, each message once), pings, and
//! closes with the protocol's codes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use ferry_proto::{
    ClientFrame, ConversationId, ErrorCode, Feature, MessageId, OutgoingMessage, ServerFrame,
    Timestamp, close,
};
use futures_util::future::{BoxFuture, FutureExt};
use futures_util::sink::SinkExt;
use futures_util::stream::{FuturesOrdered, StreamExt};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::auth::Caller;
use crate::chat;
use crate::delivery::{Delivered, MAX_FILL, Outgoing, Verdict};
use crate::error::Error;
use crate::fence::{SendFence, SocketOrder};
use crate::hub::{Joined, SOCKET_QUEUE, SocketHandle};
use crate::limits::frame_limiter;
use crate::presence;
use crate::state::App;
use crate::store::Mark;

/// One socket's life, from registration in the hub to its close.
pub(super) async fn run(app: App, caller: Caller, features: Vec<Feature>, socket: WebSocket) {
    let socket_id = Uuid::now_v7();
    let (frames_tx, frames_rx) = mpsc::channel(SOCKET_QUEUE);
    let (close_tx, close_rx) = watch::channel(None);
    let handle = SocketHandle {
        id: socket_id,
        session_id: caller.session_id,
        frames: frames_tx,
        close: close_tx,
        members_feature: features.contains(&Feature::Members),
    };
    let mut conn = Connection {
        app: app.clone(),
        caller,
        features,
        socket,
        socket_id,
        frames: frames_rx,
        delivered: Delivered::default(),
        close: close_rx,
        fence: Arc::new(SendFence::default()),
        sends: 0,
        acks: FuturesOrdered::new(),
        in_flight: HashSet::new(),
    };
    let user = caller.user_id;
    match app
        .hub
        .join(user, handle, app.config.max_connections_per_user)
    {
        Joined::TooMany => {
            conn.close(close::POLICY, "too many connections for this user")
                .await;
            return;
        }
        Joined::Yes { first } => {
            // A logout that happened between the token check and the join reached no
            // socket of this session; check once more now that it is registered.
            if !app.sessions.get(caller.session_id).await.unwrap_or(false) {
                let last = app.hub.leave(user, socket_id);
                conn.close(close::TOKEN_EXPIRED, "session ended").await;
                // A departure whose grace ended while this socket was in the hub left
                // the user to this socket's `came_online`, which will not run: start it
                // again. (Without one pending, the user was never announced online.)
                if last
                    && app.departures.is_pending(user)
                    && let Err(e) = presence::left(&app, user).await
                {
                    log_internal(&e);
                }
                return;
            }
            if first && let Err(e) = presence::came_online(&app, user).await {
                log_internal(&e);
            }
        }
    }
    app.metrics.connections.inc();
    tracing::debug!(user_id = %user, socket_id = %socket_id, "socket open");
    // A panic while serving must not skip the rest: the slot, the gauge and presence.
    crate::panics::contained("a socket", &app.metrics.panics, conn.serve()).await;
    app.metrics.connections.dec();
    // Its buffers are not needed through the presence grace below.
    drop(conn);
    tracing::debug!(user_id = %user, socket_id = %socket_id, "socket closed");
    if app.hub.leave(user, socket_id)
        && let Err(e) = presence::left(&app, user).await
    {
        log_internal(&e);
    }
}

fn log_internal(e: &Error) {
    if let Some(cause) = e.cause() {
        tracing::error!(cause, "socket operation failed");
    }
}

struct Connection {
    app: App,
    caller: Caller,
    /// What `welcome` says this socket gets beyond protocol v1.
    features: Vec<Feature>,
    socket: WebSocket,
    socket_id: Uuid,
    frames: mpsc::Receiver<Outgoing>,
    /// What this socket has been given of each conversation (`message` frames once each,
    /// in seq order).
    delivered: Delivered,
    close: watch::Receiver<crate::hub::CloseReason>,
    /// Keeps later sends to a conversation from overtaking one that failed transiently.
    fence: Arc<SendFence>,
    /// Sends read so far: each send's number in this socket's order.
    sends: u64,
    /// The answers (`ack` or `error`) of sends still committing, in send order.
    acks: FuturesOrdered<BoxFuture<'static, ServerFrame>>,
    /// The ids of those sends: a gap fill must not echo them to this socket.
    in_flight: HashSet<MessageId>,
}

/// How long a closing socket waits for the client's close reply.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Queued frames written with one flush at most.
const COALESCE: usize = 64;

/// Sends one socket may have committing at once; past this it stops reading until some
/// are answered (a client keeps fewer in flight: 500).
const MAX_COMMITTING: usize = 1024;

/// Why the loop ended: close with this frame, or the peer is already gone.
enum End {
    Close(u16, &'static str),
    Gone,
}

impl Connection {
    async fn serve(&mut self) {
        let heartbeat = self.app.config.heartbeat();
        let welcome = ServerFrame::Welcome {
            user_id: self.caller.user_id,
            session_id: self.caller.session_id,
            server_time: Timestamp::now(),
            heartbeat_secs: heartbeat.as_secs(),
            features: self.features.iter().map(|f| f.name().to_owned()).collect(),
        };
        if self.send(&welcome).await.is_err() {
            return;
        }
        match self.serve_frames(heartbeat).await {
            End::Close(code, reason) => self.close(code, reason).await,
            End::Gone => {}
        }
    }

    /// Writes the answer of a send (its `ack` or `error`), done with its id.
    async fn answer(&mut self, answer: ServerFrame) -> Result<(), axum::Error> {
        match &answer {
            ServerFrame::Ack {
                id,
                conversation_id,
                seq,
                ..
            } => {
                self.in_flight.remove(id);
                self.delivered.acked(*conversation_id, *seq);
            }
            ServerFrame::Error {
                reference: Some(id),
                ..
            } => {
                self.in_flight.remove(id);
            }
            _ => {}
        }
        self.send(&answer).await
    }

    /// Writes the answers of every send still committing.
    async fn drain(&mut self) -> Result<(), axum::Error> {
        while let Some(answer) = self.acks.next().await {
            self.answer(answer).await?;
        }
        Ok(())
    }

    async fn serve_frames(&mut self, heartbeat: Duration) -> End {
        let limiter = frame_limiter(self.app.config.frame_rate_per_sec);
        let mut ticker = tokio::time::interval(heartbeat);
        ticker.tick().await;
        let mut last_heard = Instant::now();
        let shutdown = self.app.shutdown.clone();
        loop {
            let expires_in = token_lifetime(self.caller.expires_at);
            tokio::select! {
                () = shutdown.cancelled() => {
                    // Stop reading; the sends already taken are committing: answer them
                    // first, so that nothing stored is left for the client to resend
                    // unacknowledged (the process waits for this, within its grace).
                    let grace = Duration::from_secs(self.app.config.shutdown_grace_secs);
                    return match tokio::time::timeout(grace, self.drain()).await {
                        Ok(Err(_)) => End::Gone,
                        _ => End::Close(close::GOING_AWAY, "server going away"),
                    };
                }
                changed = self.close.changed() => {
                    let reason = *self.close.borrow();
                    match (changed, reason) {
                        (_, Some((code, why))) => return End::Close(code, why),
                        (Err(_), None) => return End::Gone,
                        (Ok(()), None) => {}
                    }
                }
                Some(frame) = self.frames.recv() => {
                    if self.write_queued(frame, COALESCE).await.is_err() {
                        return End::Gone;
                    }
                }
                _ = ticker.tick() => {
                    // Three periods without a word (a pong counts) means a dead link.
                    if last_heard.elapsed() > heartbeat * 3 {
                        return End::Close(close::GOING_AWAY, "heartbeat timeout");
                    }
                    if self.write(WsMessage::Ping(Default::default())).await.is_err() {
                        return End::Gone;
                    }
                }
                () = tokio::time::sleep(expires_in) => {
                    return End::Close(close::TOKEN_EXPIRED, "access token expired");
                }
                Some(answer) = self.acks.next(), if !self.acks.is_empty() => {
                    if self.answer(answer).await.is_err() {
                        return End::Gone;
                    }
                }
                incoming = self.socket.recv(), if self.acks.len() < MAX_COMMITTING => {
                    last_heard = Instant::now();
                    match incoming {
                        None | Some(Ok(WsMessage::Close(_))) => return End::Gone,
                        Some(Err(e)) => return if is_too_big(e) {
                            End::Close(close::TOO_BIG, "frame too big")
                        } else {
                            End::Gone
                        },
                        // Every frame counts against the limit, whatever its kind.
                        Some(Ok(_)) if limiter.check().is_err() => {
                            return End::Close(close::TOO_MANY_FRAMES, "too many frames");
                        }
                        Some(Ok(WsMessage::Text(text))) => {
                            if self.handle(text.as_str()).await.is_err() {
                                return End::Gone;
                            }
                        }
                        Some(Ok(WsMessage::Binary(_))) => {
                            let error = Error::invalid("frames are JSON text, not binary");
                            if self.send(&ServerFrame::error(None, error.to_api())).await.is_err() {
                                return End::Gone;
                            }
                        }
                        // tungstenite answers pings itself; a pong only proves liveness.
                        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                    }
                }
            }
        }
    }

    /// Handles one text frame; `Err` only when the socket is gone.
    async fn handle(&mut self, text: &str) -> Result<(), axum::Error> {
        let frame = match parse(text) {
            Ok(frame) => frame,
            Err((reference, error)) => {
                return self
                    .send(&ServerFrame::error(reference, error.to_api()))
                    .await;
            }
        };
        let app = self.app.clone();
        let user = self.caller.user_id;
        let origin = Some(self.socket_id);
        let reply = match frame {
            ClientFrame::Send { message } => {
                self.submit(message);
                None
            }
            ClientFrame::Typing {
                conversation_id,
                typing,
            } => chat::typing(&app, user, conversation_id, typing)
                .await
                .err()
                .map(|e| failure(None, &e)),
            ClientFrame::Read {
                conversation_id,
                seq,
            } => chat::mark(&app, user, conversation_id, Mark::Read, seq, origin)
                .await
                .err()
                .map(|e| failure(None, &e)),
            ClientFrame::Delivered {
                conversation_id,
                seq,
            } => chat::mark(&app, user, conversation_id, Mark::Delivered, seq, origin)
                .await
                .err()
                .map(|e| failure(None, &e)),
            ClientFrame::Auth { access_token } => self.reauthenticate(&access_token).await.err(),
            ClientFrame::Ping => {
                // What was queued for this socket before the ping goes out before its
                // pong, so a ping tells a client it has heard all that was on its way.
                let waiting = self.frames.len();
                if let Ok(first) = self.frames.try_recv() {
                    self.write_queued(first, waiting).await?;
                }
                Some(ServerFrame::Pong)
            }
        };
        match reply {
            Some(reply) => self.send(&reply).await,
            None => Ok(()),
        }
    }

    /// Queues a message to be stored (behind the send fence); its `ack` or `error` joins
    /// the answers, in send order.
    fn submit(&mut self, message: OutgoingMessage) {
        let order = SocketOrder {
            socket: self.socket_id,
            fence: self.fence.clone(),
            n: self.sends,
        };
        self.sends += 1;
        let id = message.id;
        self.in_flight.insert(id);
        let started = Instant::now();
        let app = self.app.clone();
        let outcome = chat::send(&self.app, self.caller.user_id, message, Some(order));
        self.acks.push_back(
            async move {
                let outcome = outcome.await;
                app.metrics
                    .send_latency
                    .observe(started.elapsed().as_secs_f64());
                match outcome {
                    Ok((m, _)) => ServerFrame::Ack {
                        id: m.id,
                        conversation_id: m.conversation_id,
                        seq: m.seq,
                        created_at: m.created_at,
                    },
                    Err(e) => failure(Some(id), &e),
                }
            }
            .boxed(),
        );
    }

    /// Replaces the socket's token with a newer one of the same user and session.
    async fn reauthenticate(&mut self, token: &str) -> Result<(), ServerFrame> {
        let caller = Caller::from_token(&self.app, token)
            .await
            .map_err(|e| failure(None, &e))?;
        if caller.user_id != self.caller.user_id || caller.session_id != self.caller.session_id {
            return Err(failure(
                None,
                &Error::new(
                    ErrorCode::Forbidden,
                    "the new token belongs to another session",
                ),
            ));
        }
        self.caller = caller;
        Ok(())
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), axum::Error> {
        let text = serde_json::to_string(frame).map_err(axum::Error::new)?;
        self.write(WsMessage::Text(text.into())).await
    }

    /// Writes one frame, giving up after a heartbeat period: a client that stops reading
    /// must not freeze this task (it would miss heartbeats, close signals and shutdown).
    async fn write(&mut self, message: WsMessage) -> Result<(), axum::Error> {
        let limit = self.app.config.heartbeat();
        match tokio::time::timeout(limit, self.socket.send(message)).await {
            Ok(result) => result,
            Err(_) => Err(axum::Error::new("write timed out")),
        }
    }

    /// Writes `first` and whatever else is queued (up to `most` frames in all, usually
    /// [`COALESCE`]) with one flush: under fan-out load a socket's frames go out in a few large writes instead
    /// of a system call each. Gives up after a heartbeat period, like [`Self::write`].
    async fn write_queued(&mut self, first: Outgoing, most: usize) -> Result<(), axum::Error> {
        let limit = self.app.config.heartbeat();
        let writing = async {
            self.feed(first).await?;
            for _ in 1..most {
                let Ok(frame) = self.frames.try_recv() else {
                    break;
                };
                self.feed(frame).await?;
            }
            self.socket.flush().await
        };
        match tokio::time::timeout(limit, writing).await {
            Ok(result) => result,
            Err(_) => Err(axum::Error::new("write timed out")),
        }
    }

    /// Queues one frame on the socket (a `message` frame in seq order: the gap below it
    /// filled first, or dropped if given already).
    async fn feed(&mut self, outgoing: Outgoing) -> Result<(), axum::Error> {
        // One node publishes each conversation's frames in seq order already; only a
        // cluster's nodes can overtake one another.
        if self.app.cluster.is_some()
            && let Some((conversation, seq)) = outgoing.message
        {
            match self.delivered.check(conversation, seq) {
                Verdict::Write => {}
                Verdict::Skip => return Ok(()),
                Verdict::FillAfter(highest) => {
                    self.fill(conversation, highest, seq).await?;
                    self.delivered.filled(conversation, seq);
                }
            }
        }
        self.socket.feed(WsMessage::Text(outgoing.frame)).await
    }

    /// Writes the messages of `conversation` after `highest` and before `seq` from the
    /// database; a gap too long to fill here (or a failed read) is left to the client,
    /// told to catch up.
    async fn fill(
        &mut self,
        conversation: ConversationId,
        highest: i64,
        seq: i64,
    ) -> Result<(), axum::Error> {
        let missing = seq - highest - 1;
        let read = if missing <= MAX_FILL {
            let limit = u32::try_from(missing).unwrap_or(u32::MAX);
            self.app
                .store
                .messages_after(conversation, highest, limit)
                .await
                .ok()
                .filter(|found| found.len() as i64 == missing)
        } else {
            None
        };
        let Some(found) = read else {
            let resync = serde_json::to_string(&ServerFrame::Resync).map_err(axum::Error::new)?;
            return self.socket.feed(WsMessage::Text(resync.into())).await;
        };
        for message in found {
            // This socket's own send, stored but not yet acked: its ack will say so.
            if self.in_flight.contains(&message.id) {
                continue;
            }
            let text = serde_json::to_string(&ServerFrame::Message { message })
                .map_err(axum::Error::new)?;
            self.socket.feed(WsMessage::Text(text.into())).await?;
        }
        Ok(())
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        // The peer may already be gone; there is nothing left to do then.
        if self.write(WsMessage::Close(Some(frame))).await.is_err() {
            return;
        }
        // Wait briefly for the client's close reply, dropping whatever it still sends.
        // Closing TCP with unread bytes makes the kernel send a reset, and a client that
        // was still writing (a frame flood, say) could lose the close frame and its code.
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while let Some(Ok(_)) = self.socket.recv().await {}
        })
        .await;
    }
}

fn failure(reference: Option<MessageId>, e: &Error) -> ServerFrame {
    log_internal(e);
    ServerFrame::error(reference, e.to_api())
}

/// Time left before the token's `exp` (Unix seconds).
fn token_lifetime(exp: i64) -> Duration {
    let now_ms = Timestamp::now().as_millis();
    Duration::from_millis((exp * 1000 - now_ms).max(0) as u64)
}

fn is_too_big(e: axum::Error) -> bool {
    matches!(
        e.into_inner().downcast::<tungstenite::Error>().map(|b| *b),
        Ok(tungstenite::Error::Capacity(_))
    )
}

/// Parses a client frame, telling malformed JSON, an unknown type and bad fields apart.
/// A bad `send` still names its message id when one can be read, so the client can match
/// the error to the message.
fn parse(text: &str) -> Result<ClientFrame, (Option<MessageId>, Error)> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| (None, Error::invalid("malformed JSON")))?;
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .map(str::to_owned);
    let reference = value
        .pointer("/message/id")
        .and_then(|id| id.as_str())
        .and_then(|id| id.parse().ok());
    serde_json::from_value(value).map_err(|e| {
        let error = match kind.as_deref() {
            None => Error::invalid("a frame needs a string `type`"),
            Some(k @ ("send" | "typing" | "read" | "delivered" | "auth" | "ping")) => {
                Error::invalid(format!("invalid `{k}` frame: {e}"))
            }
            Some(k) => Error::invalid(format!("unknown frame type `{k}`")),
        };
        (reference, error)
    })
}
