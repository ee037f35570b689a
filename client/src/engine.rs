//! The sync engine: one task that owns the socket for the client's whole life.
//!
//! Each connection: authenticate (refreshing the token first if needed), read `welcome`,
//! catch up over REST (`/sync`, then `after_seq` pages for exactly what is missing), send
//! read marks made offline, then serve: pipeline the outbox in compose order, apply live
//! frames idempotently (filling any seq gap from REST first), answer with `delivered`,
//! relay typing, refresh the token before it expires. A link that is silent for three
//! heartbeat periods is dead and is dropped, whatever TCP says. Between connections the
//! engine waits with exponential backoff and jitter; after two failed attempts it also
//! tries to push the outbox over REST.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ferry_proto::{
    ClientFrame, ErrorCode, Message, OutgoingMessage, ServerFrame, Timestamp, close,
};
use futures_util::stream::{ReadyChunks, SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use crate::Shared;
use crate::api::ApiError;
use crate::backoff::{Backoff, retry_delay};
use crate::events::{ConnectionState, Event};
use crate::session::SessionError;
use crate::store::{Applied, Confirmation};

/// Sends in flight (awaiting their ack) at most: within the server's 1,024 unanswered
/// sends per socket (docs/protocol.md). Each round trip to the server moves up to this
/// many, so it sets how fast a long outbox drains (B9: 10k messages took 2.0 s with 500,
/// 0.9 s with 1,000).
const WINDOW: usize = 1000;
/// Bytes in flight at most: enough to keep the pipe full, little enough that writes to a
/// live server (busy committing what it already read) never block for long, so a blocked
/// write really means a peer that stopped reading.
const WINDOW_BYTES: usize = 256 * 1024;
/// Frames read from the socket at once, when that many have arrived: a burst of acks is
/// then confirmed in one store transaction instead of one each.
const READ_BURST: usize = 128;
/// Outbox entries read from the store at a time when filling the send window.
const OUTBOX_PAGE: i64 = 1024;
/// History page size for catch-up.
const PAGE: u32 = 500;
/// Latest messages of each changed conversation that `/sync` brings along: a reconnect
/// that missed no more than this in a conversation needs no history call for it. Small,
/// because a first sync brings this many for each of up to 500 conversations per page.
const SYNC_MESSAGES: u32 = 20;
/// Failed socket attempts before the outbox is also tried over REST.
const REST_FALLBACK_AFTER: u32 = 2;
/// A link that lasted this long proves the server healthy enough to reset the backoff.
const LINK_PROVEN: Duration = Duration::from_secs(10);
/// How long connecting (TCP, TLS, upgrade, welcome) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection ended, and what to do next.
pub(crate) enum End {
    /// The client is shutting down.
    Stop,
    /// The session is over: sign in again.
    SignedOut,
    /// Reconnect after this delay (`None`: the backoff decides), for this reason.
    Reconnect(Option<Duration>, String),
}

impl From<SessionError> for End {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::SignedOut => End::SignedOut,
            other => End::Reconnect(None, other.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for End {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "local database failed");
        End::Reconnect(
            Some(Duration::from_secs(5)),
            "the local database failed".into(),
        )
    }
}

impl From<ApiError> for End {
    fn from(e: ApiError) -> Self {
        match e.code() {
            Some(ErrorCode::Unauthorized) => End::Reconnect(Some(Duration::ZERO), e.to_string()),
            _ => End::Reconnect(None, e.to_string()),
        }
    }
}

/// Runs until `stop` turns true or the session ends.
pub(crate) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::new(shared.options.reconnect_min, shared.options.reconnect_max);
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            break;
        }
        shared.set_state(ConnectionState::Connecting);
        let (delay, reason) = match connect(&shared).await {
            Ok((socket, heartbeat)) => {
                failures = 0;
                let opened = Instant::now();
                let end = Link::new(&shared, socket, heartbeat).serve(&mut stop).await;
                // A link that dies right after opening (a failing catch-up, say) must not
                // reset the backoff, or the client would reconnect in a tight loop.
                if opened.elapsed() >= LINK_PROVEN {
                    backoff.reset();
                }
                match end {
                    End::Stop => break,
                    End::SignedOut => {
                        shared.set_state(ConnectionState::SignedOut);
                        return;
                    }
                    End::Reconnect(delay, reason) => {
                        // The link died: so, most likely, did pooled REST connections.
                        shared.api.reset_connections();
                        (delay, reason)
                    }
                }
            }
            Err(End::SignedOut) => {
                shared.set_state(ConnectionState::SignedOut);
                return;
            }
            Err(End::Stop) => break,
            Err(End::Reconnect(delay, reason)) => {
                failures += 1;
                if failures >= REST_FALLBACK_AFTER
                    && let Err(End::SignedOut) = push_outbox_over_rest(&shared).await
                {
                    shared.set_state(ConnectionState::SignedOut);
                    return;
                }
                (delay, reason)
            }
        };
        let delay = delay.unwrap_or_else(|| backoff.next_delay());
        tracing::debug!(?delay, reason, "offline");
        let retry_at =
            Timestamp::from_millis(Timestamp::now().as_millis() + delay.as_millis() as i64);
        shared.set_state(ConnectionState::Offline {
            retry_at: Some(retry_at),
            reason: Some(reason),
        });
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.reconnect_now.notified() => {}
            _ = stop.changed() => break,
        }
    }
    shared.set_state(ConnectionState::Offline {
        retry_at: None,
        reason: Some("stopped".into()),
    });
}

fn ws_url(server_url: &str) -> String {
    let base = server_url.trim_end_matches('/');
    let base = base
        .strip_prefix("https://")
        .map(|rest| format!("wss://{rest}"))
        .or_else(|| {
            base.strip_prefix("http://")
                .map(|rest| format!("ws://{rest}"))
        })
        .unwrap_or_else(|| base.to_owned());
    format!("{base}/api/v1/ws")
}

/// Opens an authenticated socket and reads its `welcome`; returns the heartbeat period.
async fn connect(shared: &Shared) -> Result<(Socket, Duration), End> {
    let mut token = shared.session.access_token().await?;
    for attempt in 0..2 {
        let mut request = ws_url(&shared.server_url)
            .into_client_request()
            .map_err(|e| End::Reconnect(None, format!("bad server address: {e}")))?;
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| End::Reconnect(None, "unusable access token".into()))?;
        request.headers_mut().insert("authorization", value);
        // Server frames can be large (a conversation with many members); cap at 16 MiB.
        let config = WebSocketConfig::default()
            .max_message_size(Some(16 << 20))
            .max_frame_size(Some(16 << 20));
        // Nagle off (`true`): a send written while the previous frame is unacknowledged
        // would otherwise wait for the server's delayed ACK, up to 40 ms.
        let opened = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(request, Some(config), true),
        )
        .await;
        let mut socket = match opened {
            Err(_) => return Err(End::Reconnect(None, "connecting timed out".into())),
            Ok(Err(tungstenite::Error::Http(response)))
                if response.status() == 401 && attempt == 0 =>
            {
                token = shared.session.refresh().await?.access_token;
                continue;
            }
            Ok(Err(tungstenite::Error::Http(response))) if response.status() == 401 => {
                return Err(End::SignedOut);
            }
            Ok(Err(e)) => return Err(End::Reconnect(None, format!("cannot connect: {e}"))),
            Ok(Ok((socket, _))) => socket,
        };
        let welcome = tokio::time::timeout(CONNECT_TIMEOUT, socket.next()).await;
        return match welcome {
            Ok(Some(Ok(WsMessage::Text(text)))) => match serde_json::from_str(&text) {
                Ok(ServerFrame::Welcome {
                    heartbeat_secs,
                    server_time,
                    ..
                }) => {
                    shared.session.observe_server_time(server_time);
                    Ok((socket, Duration::from_secs(heartbeat_secs.max(1))))
                }
                _ => Err(End::Reconnect(
                    None,
                    "the server did not say welcome".into(),
                )),
            },
            _ => Err(End::Reconnect(
                None,
                "the server did not say welcome".into(),
            )),
        };
    }
    Err(End::SignedOut)
}

/// One live connection.
struct Link<'a> {
    shared: &'a Shared,
    sink: SplitSink<Socket, WsMessage>,
    stream: ReadyChunks<SplitStream<Socket>>,
    heartbeat: Duration,
    /// Sends awaiting their ack, in the order they went out.
    in_flight: VecDeque<Uuid>,
    /// The same sends, with the size of each frame.
    in_flight_ids: HashMap<Uuid, usize>,
    in_flight_bytes: usize,
    /// When the earliest rescheduled outbox entry becomes due.
    retry_at: Option<Instant>,
}

impl<'a> Link<'a> {
    fn new(shared: &'a Shared, socket: Socket, heartbeat: Duration) -> Self {
        let (sink, stream) = socket.split();
        Self {
            shared,
            sink,
            stream: stream.ready_chunks(READ_BURST),
            heartbeat,
            in_flight: VecDeque::new(),
            in_flight_ids: HashMap::new(),
            in_flight_bytes: 0,
            retry_at: None,
        }
    }

    async fn serve(mut self, stop: &mut watch::Receiver<bool>) -> End {
        let end = self.serve_inner(stop).await;
        // A peer that stopped reading must not hold up reconnecting or stopping.
        let _ = tokio::time::timeout(self.heartbeat, self.sink.close()).await;
        end
    }

    async fn serve_inner(&mut self, stop: &mut watch::Receiver<bool>) -> End {
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
                    _ = stop.changed() => return End::Stop,
                    incoming = self.stream.next() => {
                        let (texts, ending) = split_burst(incoming);
                        held.extend(texts);
                        if let Some(ending) = ending {
                            return self.on_ending(ending).await;
                        }
                    }
                }
            }
        };
        let delivered = match caught_up {
            Ok(delivered) => delivered,
            Err(end) => return end,
        };
        if let Err(end) = self.on_texts(&held).await {
            return end;
        }
        for (conversation_id, seq) in delivered {
            if let Err(end) = self
                .feed(&ClientFrame::Delivered {
                    conversation_id,
                    seq,
                })
                .await
            {
                return end;
            }
        }
        let me = self.shared.me.id;
        let reads = match self.shared.store.unsent_reads(me) {
            Ok(reads) => reads,
            Err(e) => return e.into(),
        };
        for (conversation_id, seq) in reads {
            if let Err(end) = self
                .feed(&ClientFrame::Read {
                    conversation_id,
                    seq,
                })
                .await
            {
                return end;
            }
        }
        // The link is back: whatever waited for a retry may go now.
        if let Err(e) = self.shared.store.reset_outbox_schedule() {
            return e.into();
        }
        if let Err(end) = self.pump().await {
            return end;
        }
        self.shared.set_state(ConnectionState::Online);

        let mut last_heard = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let retry = self.retry_at;
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
        }
    }

    /// Queues a frame on the socket without flushing (several frames, one write).
    async fn feed(&mut self, frame: &ClientFrame) -> Result<(), End> {
        let text = serde_json::to_string(frame).map_err(|e| End::Reconnect(None, e.to_string()))?;
        let limit = self.heartbeat * 3;
        match tokio::time::timeout(limit, self.sink.feed(WsMessage::Text(text.into()))).await {
            Ok(result) => result.map_err(|e| End::Reconnect(None, format!("connection lost: {e}"))),
            Err(_) => Err(End::Reconnect(
                Some(Duration::ZERO),
                "the server stopped reading".into(),
            )),
        }
    }

    async fn flush(&mut self) -> Result<(), End> {
        // A socket the server no longer reads would block here for ever; the heartbeat rule
        // applies to writes as well.
        match tokio::time::timeout(self.heartbeat * 3, self.sink.flush()).await {
            Ok(result) => result.map_err(|e| End::Reconnect(None, format!("connection lost: {e}"))),
            Err(_) => Err(End::Reconnect(
                Some(Duration::ZERO),
                "the server stopped reading".into(),
            )),
        }
    }

    /// Sends the due outbox entries in compose order, pipelined, behind any conversation
    /// whose earlier message waits for a retry.
    async fn pump(&mut self) -> Result<(), End> {
        let now = Timestamp::now().as_millis();
        let mut held: HashSet<Uuid> = HashSet::new();
        let mut next_due: Option<i64> = None;
        let mut after = i64::MIN;
        'pages: loop {
            let page = self.shared.store.outbox_page(after, OUTBOX_PAGE)?;
            let last_page = (page.len() as i64) < OUTBOX_PAGE;
            for item in page {
                after = item.position;
                if self.window_full() {
                    break 'pages;
                }
                if self.in_flight_ids.contains_key(&item.message_id)
                    || held.contains(&item.conversation_id)
                {
                    continue;
                }
                if item.next_attempt_at > now {
                    held.insert(item.conversation_id);
                    next_due = Some(
                        next_due.map_or(item.next_attempt_at, |d: i64| d.min(item.next_attempt_at)),
                    );
                    continue;
                }
                let size = item.body.len() + 128;
                let frame = ClientFrame::Send {
                    message: OutgoingMessage {
                        id: item.message_id,
                        conversation_id: item.conversation_id,
                        body: item.body,
                    },
                };
                self.feed(&frame).await?;
                self.in_flight.push_back(item.message_id);
                self.in_flight_ids.insert(item.message_id, size);
                self.in_flight_bytes += size;
            }
            if last_page {
                break;
            }
        }
        self.retry_at =
            next_due.map(|due| Instant::now() + Duration::from_millis((due - now).max(0) as u64));
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
        for (conversation_id, user_id) in self.shared.typing().expire(Instant::now()) {
            self.shared.emit(Event::Typing {
                conversation_id,
                user_id,
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
            // A frame type from a newer server is not an error: skip it.
            let Ok(frame) = serde_json::from_str::<ServerFrame>(text) else {
                tracing::debug!("skipping an unknown frame");
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
        let shared = self.shared;
        for ack in &acks {
            self.settle(ack.id);
        }
        shared.store.confirm_all(&acks)?;
        let mut highest: HashMap<Uuid, i64> = HashMap::new();
        for ack in &acks {
            shared.emit_message(ack.id);
            let seq = highest.entry(ack.conversation_id).or_default();
            *seq = (*seq).max(ack.seq);
        }
        // An ack at seq N says nothing of N-1: fill what is missing below the highest.
        for (conversation, seq) in highest {
            fill_below(shared, conversation, seq).await?;
        }
        if self.window_half_empty() {
            self.pump().await?;
        }
        Ok(())
    }

    async fn on_frame(&mut self, frame: ServerFrame) -> Result<(), End> {
        let shared = self.shared;
        let me = shared.me.id;
        match frame {
            // Acks never come here: on_texts confirms them in runs (on_acks).
            ServerFrame::Ack { .. } => {}
            ServerFrame::Error {
                reference: Some(id),
                code,
                message,
                retry_after_ms,
            } if self.in_flight_ids.contains_key(&id) => {
                self.settle(id);
                if !refuses_for_good(code) {
                    let attempts = shared.store.attempts(id)?;
                    let delay = retry_delay(attempts, retry_after_ms);
                    shared
                        .store
                        .reschedule(id, Timestamp::now().as_millis() + delay.as_millis() as i64)?;
                } else {
                    shared.store.fail(id, &failure_reason(code, &message))?;
                    shared.emit_message(id);
                }
                if self.window_half_empty() {
                    self.pump().await?;
                }
            }
            ServerFrame::Error { code, message, .. } => {
                tracing::debug!(?code, message, "a frame failed");
            }
            ServerFrame::Message { message } => {
                let (conversation_id, sender) = (message.conversation_id, message.sender_id);
                let seq = message.seq;
                receive(shared, message).await?;
                if sender != me {
                    if shared.typing().message_from(conversation_id, sender) {
                        shared.emit(Event::Typing {
                            conversation_id,
                            user_id: sender,
                            typing: false,
                        });
                    }
                    let seq = shared.store.contiguous_seq(conversation_id)?.max(seq);
                    self.feed(&ClientFrame::Delivered {
                        conversation_id,
                        seq,
                    })
                    .await?;
                    self.flush().await?;
                }
            }
            ServerFrame::Receipt {
                conversation_id,
                user_id,
                read_seq,
                delivered_seq,
            } => {
                shared
                    .store
                    .apply_receipt(conversation_id, user_id, read_seq, delivered_seq)?;
                shared.emit(Event::Receipt {
                    conversation_id,
                    user_id,
                    read_seq,
                    delivered_seq,
                });
                shared.emit(Event::Conversation { conversation_id });
            }
            ServerFrame::Typing {
                conversation_id,
                user_id,
                typing,
            } => {
                if shared
                    .typing()
                    .received(conversation_id, user_id, typing, Instant::now())
                {
                    shared.emit(Event::Typing {
                        conversation_id,
                        user_id,
                        typing,
                    });
                }
            }
            ServerFrame::Presence {
                user_id,
                online,
                last_seen,
            } => {
                let presence = ferry_proto::Presence {
                    user_id,
                    online,
                    last_seen,
                };
                shared.store.apply_presence(&presence)?;
                shared.emit(Event::Presence { presence });
            }
            ServerFrame::Conversation { conversation } => {
                shared.store.apply_conversation(me, &conversation)?;
                shared.emit(Event::Conversation {
                    conversation_id: conversation.id,
                });
                refresh_presence(shared).await?;
            }
            ServerFrame::Welcome { .. } | ServerFrame::Pong => {}
        }
        Ok(())
    }

    fn settle(&mut self, id: Uuid) {
        if let Some(size) = self.in_flight_ids.remove(&id) {
            self.in_flight_bytes -= size;
            // Acks come back in send order: the front, nearly always.
            if self.in_flight.front() == Some(&id) {
                self.in_flight.pop_front();
            } else {
                self.in_flight.retain(|i| *i != id);
            }
        }
    }

    fn window_full(&self) -> bool {
        self.in_flight.len() >= WINDOW || self.in_flight_bytes >= WINDOW_BYTES
    }

    /// Refill at half, so the pipe never runs dry while acks come in.
    fn window_half_empty(&self) -> bool {
        self.in_flight.len() <= WINDOW / 2 && self.in_flight_bytes <= WINDOW_BYTES / 2
    }
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

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What a person should read when a message is refused for good.
fn failure_reason(code: ErrorCode, message: &str) -> String {
    match code {
        ErrorCode::NotFound => "you are no longer in this conversation".into(),
        ErrorCode::TooLarge => "the message is too long".into(),
        ErrorCode::Forbidden => "you may not send to this conversation".into(),
        _ => message.to_owned(),
    }
}

/// Stores a live message, first fetching its conversation if it is new here and any
/// messages missing before it, so the store never has a gap below its highest seq.
async fn receive(shared: &Shared, message: Message) -> Result<(), End> {
    let conversation = message.conversation_id;
    if !shared.store.has_conversation(conversation)? {
        let api = &shared.api;
        let c = shared
            .session
            .call(|t| async move { api.conversation(&t, conversation).await })
            .await?;
        shared.store.apply_conversation(shared.me.id, &c)?;
    }
    fill_below(shared, conversation, message.seq).await?;
    let id = message.id;
    shared
        .store
        .apply_messages(std::slice::from_ref(&message))?;
    shared.emit_message(id);
    shared.emit(Event::Conversation {
        conversation_id: conversation,
    });
    Ok(())
}

/// Makes sure every message below `seq` is stored (an own message acked at seq N, or a
/// live one, says nothing about N-1), fetching what is missing.
async fn fill_below(shared: &Shared, conversation: Uuid, seq: i64) -> Result<(), End> {
    let have = shared.store.contiguous_seq(conversation)?;
    if seq > have + 1 {
        fetch_after(shared, conversation, have, seq - 1).await?;
    }
    Ok(())
}

/// Fetches and stores the messages after `after` up to at least `until`.
async fn fetch_after(
    shared: &Shared,
    conversation: Uuid,
    mut after: i64,
    until: i64,
) -> Result<bool, End> {
    let mut added_from_others = false;
    while after < until {
        let api = &shared.api;
        let page = shared
            .session
            .call(|t| async move { api.messages_after(&t, conversation, after, PAGE).await })
            .await?;
        let Some(last) = page.messages.last() else {
            break;
        };
        after = last.seq;
        added_from_others |= apply_fetched(shared, &page.messages)?;
        if !page.has_more {
            break;
        }
    }
    Ok(added_from_others)
}

/// Stores messages that came by REST; whether any of them new to this store is from
/// someone else (then a `delivered` mark is due). New ones are announced like live ones
/// (a UI or `watch` must not miss what arrived while it was away).
fn apply_fetched(shared: &Shared, messages: &[Message]) -> Result<bool, End> {
    let applied = shared.store.apply_messages(messages)?;
    let mut new_from_others = false;
    for (message, applied) in messages.iter().zip(applied) {
        if applied != Applied::Known {
            shared.emit_message(message.id);
            new_from_others |= message.sender_id != shared.me.id;
        }
    }
    Ok(new_from_others)
}

/// Catches up through `/sync` (with each changed conversation's latest messages) and,
/// where those do not reach back to what is stored, `after_seq` pages; returns the
/// `delivered` marks due.
pub(crate) async fn catch_up(shared: &Shared) -> Result<HashMap<Uuid, i64>, End> {
    let me = shared.me.id;
    let api = &shared.api;
    let mut delivered = HashMap::new();
    let mut cursor = shared.store.sync_cursor()?;
    loop {
        let since = cursor.clone();
        let page = shared
            .session
            .call(|t| {
                let since = since.clone();
                async move { api.sync(&t, since.as_deref(), SYNC_MESSAGES).await }
            })
            .await?;
        shared.store.apply_conversations(me, &page.conversations)?;
        let mut latest: HashMap<Uuid, Vec<Message>> = HashMap::new();
        for m in page.messages {
            latest.entry(m.conversation_id).or_default().push(m);
        }
        for c in &page.conversations {
            let mut added = match latest.remove(&c.id) {
                Some(messages) => apply_fetched(shared, &messages)?,
                None => false,
            };
            let have = shared.store.contiguous_seq(c.id)?;
            if c.last_seq > have {
                added |= fetch_after(shared, c.id, have, c.last_seq).await?;
            }
            if added {
                delivered.insert(c.id, shared.store.contiguous_seq(c.id)?);
            }
            shared.emit(Event::Conversation {
                conversation_id: c.id,
            });
        }
        // Only now is everything before the cursor applied.
        shared.store.set_sync_cursor(&page.cursor)?;
        cursor = Some(page.cursor);
        if !page.has_more {
            break;
        }
    }
    refresh_presence(shared).await?;
    Ok(delivered)
}

/// Who is online now. Presence frames only tell about changes, so this is asked on each
/// connection and whenever a conversation brings new contacts.
async fn refresh_presence(shared: &Shared) -> Result<(), End> {
    let api = &shared.api;
    for presence in shared
        .session
        .call(|t| async move { api.presence(&t).await })
        .await?
    {
        shared.store.apply_presence(&presence)?;
        shared.emit(Event::Presence { presence });
    }
    Ok(())
}

/// Whether a refused send will never succeed as it is (anything else is tried again:
/// overload, a server fault, an answer this client could not read, an expired token).
fn refuses_for_good(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidRequest
            | ErrorCode::TooLarge
            | ErrorCode::NotFound
            | ErrorCode::Forbidden
            | ErrorCode::Conflict
    )
}

/// Sends the outbox over REST, in compose order, stopping at the first network failure.
pub(crate) async fn push_outbox_over_rest(shared: &Shared) -> Result<usize, End> {
    let now = Timestamp::now().as_millis();
    let api = &shared.api;
    let mut held = HashSet::new();
    let mut sent = 0;
    for item in shared.store.outbox()? {
        if held.contains(&item.conversation_id) || item.next_attempt_at > now {
            held.insert(item.conversation_id);
            continue;
        }
        let (id, conversation, body) = (item.message_id, item.conversation_id, item.body.as_str());
        let result = shared
            .session
            .call(|t| async move { api.send(&t, conversation, id, body).await })
            .await;
        match result {
            Ok(m) => {
                shared
                    .store
                    .confirm(id, m.conversation_id, m.seq, m.created_at)?;
                sent += 1;
                shared.emit_message(id);
                fill_below(shared, m.conversation_id, m.seq).await?;
            }
            Err(SessionError::Api(ApiError::Network(_))) => return Ok(sent),
            Err(SessionError::Api(ApiError::Server { code, message, .. }))
                if refuses_for_good(code) =>
            {
                shared.store.fail(id, &failure_reason(code, &message))?;
                shared.emit_message(id);
            }
            Err(SessionError::Api(e)) => {
                held.insert(conversation);
                let hint = match &e {
                    ApiError::Server { retry_after_ms, .. } => *retry_after_ms,
                    _ => None,
                };
                let delay = retry_delay(shared.store.attempts(id)?, hint);
                shared
                    .store
                    .reschedule(id, now + delay.as_millis() as i64)?;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(sent)
}
