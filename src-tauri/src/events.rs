//! [`UiEvent`]: what the window hears (as `ferry://event`), each carrying what changed so
//! that the UI updates in place: a message as stored now, one conversation's re-read
//! summary, who is typing. [`forward`] turns the core's events into these.
//!
//! The core says *which* conversation changed; the shell re-reads that one summary, once
//! per burst ([`Batch`] collects the events already queued), and keeps the unread total
//! from it. When the window's subscriber falls behind the core, events are lost and
//! nothing can say what changed: the UI gets an explicit [`UiEvent::Resync`] and re-reads
//! everything.

use std::collections::HashMap;
use std::sync::Arc;

use ferry_client::{
    Client, ClientError, ConnectionState, ConversationSummary, Event, HistoryRequest, LocalMessage,
};
use ferry_proto::{ConversationId, MessageId, Presence, Timestamp, User, UserId};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::notifier::Notifier;
use crate::state::Desktop;
use crate::unread::UnreadTotal;

/// An update the feed offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AvailableUpdate {
    /// The version on offer.
    pub version: String,
    /// The version running now.
    pub current_version: String,
    /// What changed, as the publisher wrote it.
    pub notes: Option<String>,
    /// When it was published (RFC 3339), if the feed says.
    pub date: Option<String>,
}

/// The event name every [`UiEvent`] is emitted under.
pub const EVENT: &str = "ferry://event";

/// At most this many queued core events make one batch, so a long burst still shows
/// its conversations' summaries as it goes.
const BATCH: usize = 256;

/// A change the window shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UiEvent {
    /// Changes were missed: re-read everything (the list, the open thread, the
    /// connection).
    Resync,
    /// A conversation's summary changed (messages, members, unread count, muting…).
    Conversation {
        /// As stored now.
        summary: ConversationSummary,
    },
    /// A message was added or changed (sent, delivered, read, failed…).
    Message {
        /// As stored now.
        message: LocalMessage,
    },
    /// A message was edited, deleted or reacted to: shown in place, never notified.
    Changed {
        /// As it shows now.
        message: LocalMessage,
    },
    /// The server refused a change of this user's; the message shows as it was.
    ChangeRefused {
        /// As it shows now.
        message: LocalMessage,
        /// Why, for people.
        reason: String,
    },
    /// A member's watermarks moved (the conversation's new summary follows).
    Receipt {
        /// Where.
        conversation_id: ConversationId,
        /// Whose.
        user_id: UserId,
        /// Read up to.
        #[cfg_attr(test, ts(type = "number"))]
        read_seq: i64,
        /// Stored up to.
        #[cfg_attr(test, ts(type = "number"))]
        delivered_seq: i64,
    },
    /// Who is typing in a conversation changed.
    Typing {
        /// Where.
        conversation_id: ConversationId,
        /// Who is typing there now.
        typing: Vec<UserId>,
    },
    /// A contact came online or went offline.
    Presence {
        /// Who and since when.
        presence: Presence,
    },
    /// The connection state changed.
    Connection {
        /// The new state.
        state: ConnectionState,
    },
    /// The signed-in user's profile changed (on this device or another).
    Profile {
        /// As it is now.
        user: User,
    },
    /// Do-not-disturb changed (on this device or another).
    DoNotDisturb {
        /// Until when (`null`: off).
        until: Option<Timestamp>,
    },
    /// A file of an unsent message is uploading.
    UploadProgress {
        /// The pending message.
        message_id: MessageId,
        /// Which of its files.
        index: u32,
        /// Bytes uploaded.
        #[cfg_attr(test, ts(type = "number"))]
        sent: u64,
        /// Bytes in all.
        #[cfg_attr(test, ts(type = "number"))]
        total: u64,
    },
    /// The asks of the person's other devices for this one's history changed: all of them
    /// as they are now.
    HistoryRequests {
        /// Oldest first.
        requests: Vec<HistoryRequest>,
    },
    /// A history sent from another of the person's devices was taken in.
    HistoryReceived {
        /// The messages it made readable here.
        entries: u32,
    },
    /// The person's data export is downloading (`export_account`).
    ExportProgress {
        /// Bytes saved so far.
        #[cfg_attr(test, ts(type = "number"))]
        received: u64,
        /// The archive's size.
        #[cfg_attr(test, ts(type = "number"))]
        total: u64,
    },
    /// A newer version of Ferry is published (found without being asked).
    UpdateAvailable {
        /// What is on offer.
        update: AvailableUpdate,
    },
    /// The update is downloading (`install_update`).
    UpdateProgress {
        /// Bytes so far.
        #[cfg_attr(test, ts(type = "number"))]
        received: u64,
        /// The bundle's size, when the server says.
        #[cfg_attr(test, ts(type = "number | null"))]
        total: Option<u64>,
    },
    /// The update is downloaded; its signature is being checked and it is installed next.
    UpdateDownloaded,
}

/// The core events already queued, turned into UI events: each changed conversation is
/// re-read once, after the messages that changed it.
#[derive(Debug, Default)]
pub struct Batch {
    out: Vec<UiEvent>,
    /// Conversations whose summary may have changed, in the order first heard.
    changed: Vec<ConversationId>,
    resync: bool,
}

impl Batch {
    /// Takes in one core event; `typing_in` says who is typing in a conversation now.
    pub fn push(&mut self, event: Event, typing_in: impl FnOnce(ConversationId) -> Vec<UserId>) {
        match event {
            Event::Message { message } => {
                // An ack or a failure changes the summary's last message and seq.
                self.touch(message.conversation_id);
                self.out.push(UiEvent::Message { message });
            }
            Event::Changed { message } => {
                // The preview may show the message changed.
                self.touch(message.conversation_id);
                self.out.push(UiEvent::Changed { message });
            }
            Event::ChangeRefused { message, reason } => {
                self.touch(message.conversation_id);
                self.out.push(UiEvent::ChangeRefused { message, reason });
            }
            Event::Conversation { conversation_id } => self.touch(conversation_id),
            Event::Receipt {
                conversation_id,
                user_id,
                read_seq,
                delivered_seq,
            } => {
                self.touch(conversation_id);
                self.out.push(UiEvent::Receipt {
                    conversation_id,
                    user_id,
                    read_seq,
                    delivered_seq,
                });
            }
            Event::Typing {
                conversation_id, ..
            } => self.out.push(UiEvent::Typing {
                conversation_id,
                typing: typing_in(conversation_id),
            }),
            Event::Presence { presence } => self.out.push(UiEvent::Presence { presence }),
            Event::Connection { state } => self.out.push(UiEvent::Connection { state }),
            Event::Profile { user } => self.out.push(UiEvent::Profile { user }),
            Event::DoNotDisturb { until } => self.out.push(UiEvent::DoNotDisturb { until }),
            Event::HistoryRequests { requests } => {
                self.out.push(UiEvent::HistoryRequests { requests })
            }
            Event::HistoryReceived { entries } => {
                self.out.push(UiEvent::HistoryReceived { entries })
            }
            Event::UploadProgress {
                message_id,
                index,
                sent,
                total,
            } => self.out.push(UiEvent::UploadProgress {
                message_id,
                index,
                sent,
                total,
            }),
        }
    }

    /// Events were lost: what they changed is unknown.
    pub fn lagged(&mut self) {
        self.resync = true;
    }

    /// Whether the batch is full.
    pub fn is_full(&self) -> bool {
        self.out.len() + self.changed.len() >= BATCH
    }

    fn touch(&mut self, conversation: ConversationId) {
        if !self.changed.contains(&conversation) {
            self.changed.push(conversation);
        }
    }

    /// The UI events, reading each changed conversation's summary with `read`. A summary
    /// that cannot be read turns into a resync, as does a lag.
    pub fn finish(
        mut self,
        mut read: impl FnMut(ConversationId) -> Result<Option<ConversationSummary>, ClientError>,
    ) -> Vec<UiEvent> {
        if !self.resync {
            for id in std::mem::take(&mut self.changed) {
                match read(id) {
                    Ok(Some(summary)) => self.out.push(UiEvent::Conversation { summary }),
                    Ok(None) => {
                        tracing::warn!(conversation_id = %id, "a changed conversation is not stored");
                        self.resync = true;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(conversation_id = %id, error = %e, "could not re-read a conversation");
                        self.resync = true;
                        break;
                    }
                }
            }
        }
        if self.resync {
            self.out
                .retain(|e| !matches!(e, UiEvent::Conversation { .. }));
            self.out.push(UiEvent::Resync);
        }
        self.out
    }
}

/// Forwards `client`'s events to the window until the client goes away, keeping the
/// unread total in the title. `events` is subscribed before the engine starts, so that
/// nothing between the first read and the first event is missed.
pub(crate) fn forward(
    app: AppHandle,
    client: Arc<Client>,
    mut events: tokio::sync::broadcast::Receiver<Event>,
) {
    tauri::async_runtime::spawn(async move {
        let mut unread = UnreadTotal::default();
        resync_unread(&client, &mut unread);
        show_unread(&app, unread.total());
        loop {
            let mut batch = Batch::default();
            match events.recv().await {
                Ok(event) => batch.push(event, |c| client.conversation(c).typing()),
                Err(RecvError::Lagged(_)) => batch.lagged(),
                Err(RecvError::Closed) => return,
            }
            // What else is already queued joins this batch (a catch-up emits many).
            let mut closed = false;
            while !batch.is_full() {
                match events.try_recv() {
                    Ok(event) => batch.push(event, |c| client.conversation(c).typing()),
                    Err(TryRecvError::Lagged(_)) => batch.lagged(),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => {
                        closed = true;
                        break;
                    }
                }
            }
            let out = batch.finish(|id| client.conversation(id).summary());
            // Each message's conversation was just re-read with the batch: notifications
            // use that summary instead of reading it again per message.
            let summaries: HashMap<ConversationId, &ConversationSummary> = out
                .iter()
                .filter_map(|e| match e {
                    UiEvent::Conversation { summary } => Some((summary.id, summary)),
                    _ => None,
                })
                .collect();
            let mut unread_changed = false;
            for event in &out {
                match event {
                    UiEvent::Message { message } => notify_if_due(
                        &app,
                        &client,
                        message,
                        summaries.get(&message.conversation_id).copied(),
                    ),
                    UiEvent::Conversation { summary } => unread_changed |= unread.update(summary),
                    UiEvent::Resync => {
                        resync_unread(&client, &mut unread);
                        unread_changed = true;
                    }
                    _ => {}
                }
                let _ = app.emit(EVENT, event);
            }
            if unread_changed {
                show_unread(&app, unread.total());
            }
            if closed {
                return;
            }
        }
    });
}

/// Every conversation's unread count, read at start and after missed events.
fn resync_unread(client: &Client, unread: &mut UnreadTotal) {
    match client.unread_counts() {
        Ok(counts) => unread.reset(&counts),
        Err(e) => tracing::warn!(error = %e, "could not read the unread total"),
    }
}

/// Shows `message` as a notification if it deserves one; `summary` is its conversation
/// as just re-read, when the batch has it.
fn notify_if_due(
    app: &AppHandle,
    client: &Client,
    message: &LocalMessage,
    summary: Option<&ConversationSummary>,
) {
    let read;
    let conversation = match summary {
        Some(summary) => summary,
        None => match client.conversation(message.conversation_id).summary() {
            Ok(Some(summary)) => {
                read = summary;
                &read
            }
            _ => return,
        },
    };
    let attention = app.state::<Desktop>().attention();
    if !crate::notify::should_notify(client.me().id, message, conversation, attention) {
        return;
    }
    // Do-not-disturb silences every conversation, on every device of the user.
    if matches!(client.do_not_disturb_until(), Ok(Some(_))) {
        return;
    }
    let language = app.state::<crate::settings::Settings>().get().language;
    let texts = crate::texts::current(language.as_deref());
    let (title, body) = crate::notify::render(message, conversation, texts);
    app.state::<Notifier>()
        .show(app, message.conversation_id, title, body);
}

/// The unread total goes in the window title, the tray and, where the OS has one, the
/// badge.
fn show_unread(app: &AppHandle, total: i64) {
    app.state::<Desktop>().set_unread_total(total);
    crate::tray::show_unread(app, total);
    if let Some(window) = app.get_webview_window("main") {
        let title = if total > 0 {
            format!("Ferry ({total})")
        } else {
            "Ferry".to_owned()
        };
        let _ = window.set_title(&title);
        crate::badge::show(&window, total);
    }
}

#[cfg(test)]
mod tests {
    use ferry_client::MessageStatus;
    use ferry_proto::Timestamp;

    use super::*;
    use crate::fixtures::summary;

    /// Pushes an event that asks for no typing list.
    fn push(batch: &mut Batch, event: Event) {
        batch.push(event, |_| unreachable!("only typing events ask who types"));
    }

    /// Pushes "this conversation changed".
    fn changed(batch: &mut Batch, conversation_id: ConversationId) {
        push(batch, Event::Conversation { conversation_id });
    }

    fn message(conversation_id: ConversationId, seq: i64) -> LocalMessage {
        LocalMessage {
            id: MessageId::from_u128(1000 + seq as u128),
            conversation_id,
            seq: Some(seq),
            sender_id: UserId::from_u128(7),
            body: format!("m{seq}"),
            created_at: Timestamp::from_millis(seq),
            mine: false,
            status: MessageStatus::Sent,
            error: None,
            reply_to: None,
            quote: None,
            edited: false,
            deleted: false,
            removed_by_operator: false,
            unreadable: false,
            reactions: Vec::new(),
            attachments: Vec::new(),
        }
    }

    #[test]
    fn a_burst_re_reads_each_changed_conversation_once_after_its_messages() {
        let (a, b) = (ConversationId::from_u128(1), ConversationId::from_u128(2));
        let mut batch = Batch::default();
        for seq in 1..=3 {
            push(
                &mut batch,
                Event::Message {
                    message: message(a, seq),
                },
            );
            changed(&mut batch, a);
        }
        changed(&mut batch, b);
        let mut reads = Vec::new();
        let out = batch.finish(|id| {
            reads.push(id);
            Ok(Some(summary(id)))
        });
        assert_eq!(reads, [a, b]);
        assert_eq!(
            out,
            [
                UiEvent::Message {
                    message: message(a, 1)
                },
                UiEvent::Message {
                    message: message(a, 2)
                },
                UiEvent::Message {
                    message: message(a, 3)
                },
                UiEvent::Conversation {
                    summary: summary(a)
                },
                UiEvent::Conversation {
                    summary: summary(b)
                },
            ]
        );
    }

    #[test]
    fn a_change_shows_in_place_and_is_never_news() {
        // Only `UiEvent::Message` can become a notification (`notify_if_due`): an edit,
        // deletion or reaction comes as `Changed`, and its conversation is re-read (its
        // preview may show the change).
        let a = ConversationId::from_u128(1);
        let mut batch = Batch::default();
        let edited = LocalMessage {
            body: "edited".into(),
            edited: true,
            ..message(a, 1)
        };
        push(
            &mut batch,
            Event::Changed {
                message: edited.clone(),
            },
        );
        let out = batch.finish(|id| Ok(Some(summary(id))));
        assert_eq!(
            out,
            [
                UiEvent::Changed { message: edited },
                UiEvent::Conversation {
                    summary: summary(a)
                },
            ]
        );
        assert!(!out.iter().any(|e| matches!(e, UiEvent::Message { .. })));
    }

    #[test]
    fn typing_carries_who_types_now_and_re_reads_nothing() {
        let (c, bob) = (ConversationId::from_u128(1), UserId::from_u128(7));
        let mut batch = Batch::default();
        batch.push(
            Event::Typing {
                conversation_id: c,
                user_id: bob,
                typing: true,
            },
            |asked| {
                assert_eq!(asked, c);
                vec![bob]
            },
        );
        let out = batch.finish(|_| panic!("typing changes no stored summary"));
        assert_eq!(
            out,
            [UiEvent::Typing {
                conversation_id: c,
                typing: vec![bob]
            }]
        );
    }

    #[test]
    fn a_lag_becomes_an_explicit_resync_without_re_reads() {
        let a = ConversationId::from_u128(1);
        let mut batch = Batch::default();
        changed(&mut batch, a);
        batch.lagged();
        let out = batch.finish(|_| panic!("a resync re-reads in the UI, not here"));
        assert_eq!(out, [UiEvent::Resync]);
        assert_eq!(
            serde_json::to_value(&out[0]).expect("serialize"),
            serde_json::json!({ "type": "resync" })
        );
    }

    #[test]
    fn a_summary_that_cannot_be_read_becomes_a_resync() {
        let (a, b) = (ConversationId::from_u128(1), ConversationId::from_u128(2));
        let mut batch = Batch::default();
        changed(&mut batch, a);
        changed(&mut batch, b);
        let out = batch.finish(|id| Ok((id == a).then(|| summary(id))));
        assert_eq!(out, [UiEvent::Resync]);
    }

    #[test]
    fn events_serialize_with_their_type_tag() {
        let a = ConversationId::from_u128(1);
        let value = serde_json::to_value(UiEvent::Conversation {
            summary: summary(a),
        })
        .expect("serialize");
        assert_eq!(value["type"], "conversation");
        assert_eq!(value["summary"]["id"], a.to_string());
    }
}
