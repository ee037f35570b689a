//! The outbox's rules, driven with a pinned clock: windows, holds, verdicts.

use ferry_proto::{ConversationId, MessageId};

use super::*;
use crate::clock::{Clock, TokioClock};

const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// Outbox entries in compose order: (conversation, due at) each.
fn entries(spec: &[(ConversationId, i64)]) -> Vec<OutboxItem> {
    spec.iter()
        .enumerate()
        .map(|(i, &(conversation_id, next_attempt_at))| OutboxItem {
            message_id: MessageId::from_u128(i as u128 + 1),
            conversation_id,
            body: format!("m{i}"),
            reply_to: None,
            change: None,
            attempts: 0,
            next_attempt_at,
            position: i as i64 + 1,
            attachments: Vec::new(),
            waiting: false,
            offered: false,
        })
        .collect()
}

/// One pass at `now`, as a transport walks it: stop when the window is full.
fn pass(outbox: &mut Outbox, items: &[OutboxItem], now: Timestamp) -> Vec<MessageId> {
    outbox.begin(now);
    let mut sent = Vec::new();
    for item in items {
        if outbox.is_full() {
            break;
        }
        if outbox.offer(item) {
            sent.push(item.message_id);
        }
    }
    sent
}

fn refused(id: MessageId, code: Option<ErrorCode>) -> Answer<'static> {
    Answer::Refused {
        id,
        code,
        message: "from the server",
        retry_after_ms: None,
    }
}

fn ids(items: &[OutboxItem]) -> Vec<MessageId> {
    items.iter().map(|i| i.message_id).collect()
}

#[test]
fn the_window_bounds_what_is_in_flight_and_refills_at_half() {
    let c = ConversationId::from_u128(100);
    let items = entries(&[(c, 0); 10]);
    let mut outbox = Outbox::new(Window {
        sends: 4,
        ..Window::REST
    });
    assert_eq!(pass(&mut outbox, &items, START), ids(&items[..4]));
    assert!(outbox.is_full());
    assert!(
        pass(&mut outbox, &items, START).is_empty(),
        "a full window sends nothing"
    );
    assert_eq!(
        outbox.answer(Answer::Stored(items[0].message_id), START),
        Verdict::Confirm
    );
    assert!(!outbox.wants_more(), "three of four in flight");
    outbox.answer(Answer::Stored(items[1].message_id), START);
    assert!(outbox.wants_more(), "half empty");
    // The store dropped the two confirmed entries.
    assert_eq!(
        pass(&mut outbox, &items[2..], START),
        ids(&items[4..6]),
        "what is in flight is not sent twice"
    );
}

#[test]
fn the_byte_window_counts_frame_sizes() {
    let c = ConversationId::from_u128(100);
    let items = entries(&[(c, 0); 4]);
    // Room for two two-byte messages.
    let bytes = 2 * (2 + FRAME_OVERHEAD);
    let mut outbox = Outbox::new(Window {
        bytes,
        ..Window::SOCKET
    });
    assert_eq!(pass(&mut outbox, &items, START), ids(&items[..2]));
    outbox.answer(Answer::Stored(items[0].message_id), START);
    assert!(outbox.wants_more());
    assert_eq!(pass(&mut outbox, &items[1..], START), ids(&items[2..3]));
}

#[test]
fn an_entry_waiting_for_its_retry_holds_back_its_conversation_only() {
    let (a, b) = (
        ConversationId::from_u128(100),
        ConversationId::from_u128(200),
    );
    let due = START.as_millis() + 2_000;
    let items = entries(&[(a, 0), (a, due), (b, 0), (a, 0), (b, due + 1_000)]);
    let mut outbox = Outbox::new(Window::SOCKET);
    assert_eq!(
        pass(&mut outbox, &items, START),
        vec![items[0].message_id, items[2].message_id],
        "a's third entry waits behind its second, b's first goes"
    );
    assert_eq!(outbox.next_due_in(), Some(Duration::from_secs(2)));
    let later_on = Timestamp::from_millis(due);
    assert_eq!(
        pass(&mut outbox, &items, later_on),
        vec![items[1].message_id, items[3].message_id],
        "once due, it goes, and so does what waited behind it"
    );
    assert_eq!(outbox.next_due_in(), Some(Duration::from_secs(1)));
}

#[test]
fn verdicts_ack_transient_and_permanent() {
    let c = ConversationId::from_u128(100);
    let items = entries(&[(c, 0); 6]);
    let mut outbox = Outbox::new(Window::SOCKET);
    pass(&mut outbox, &items, START);
    assert_eq!(
        outbox.answer(Answer::Stored(items[0].message_id), START),
        Verdict::Confirm
    );
    for (item, code) in items[1..].iter().zip([
        ErrorCode::InvalidRequest,
        ErrorCode::NotFound,
        ErrorCode::TooLarge,
        ErrorCode::Forbidden,
    ]) {
        let Verdict::Fail { reason } = outbox.answer(refused(item.message_id, Some(code)), START)
        else {
            panic!("{code:?} refuses for good");
        };
        assert!(!reason.is_empty());
    }
    assert_eq!(
        outbox.answer(
            refused(items[2].message_id, Some(ErrorCode::NotFound)),
            START
        ),
        Verdict::NotOurs,
        "answered already"
    );
    let Verdict::Retry { not_before } = outbox.answer(
        refused(items[5].message_id, Some(ErrorCode::RateLimited)),
        START,
    ) else {
        panic!("rate limited is transient");
    };
    let wait = not_before.as_millis() - START.as_millis();
    assert!(
        (250..=500).contains(&wait),
        "first retry after 0.25-0.5 s: {wait}"
    );
    assert!(outbox.wants_more());
    assert!(!outbox.is_full());
}

#[test]
fn permanent_refusals_say_why_for_people() {
    let cases = [
        (
            ErrorCode::NotFound,
            "you are no longer in this conversation",
        ),
        (ErrorCode::TooLarge, "the message is too long"),
        (ErrorCode::Forbidden, "from the server"),
        (ErrorCode::Conflict, "from the server"),
    ];
    for (code, reason) in cases {
        let c = ConversationId::from_u128(100);
        let items = entries(&[(c, 0)]);
        let mut outbox = Outbox::new(Window::SOCKET);
        pass(&mut outbox, &items, START);
        assert_eq!(
            outbox.answer(refused(items[0].message_id, Some(code)), START),
            Verdict::Fail {
                reason: reason.into()
            }
        );
    }
}

#[test]
fn unreadable_answers_overload_and_faults_are_transient() {
    for code in [
        None,
        Some(ErrorCode::Unauthorized),
        Some(ErrorCode::RateLimited),
        Some(ErrorCode::Unavailable),
        Some(ErrorCode::Internal),
    ] {
        let items = entries(&[(ConversationId::from_u128(100), 0)]);
        let mut outbox = Outbox::new(Window::SOCKET);
        pass(&mut outbox, &items, START);
        assert!(
            matches!(
                outbox.answer(refused(items[0].message_id, code), START),
                Verdict::Retry { .. }
            ),
            "{code:?}"
        );
    }
}

#[test]
fn the_server_hint_and_earlier_failures_lengthen_the_wait() {
    let mut items = entries(&[(ConversationId::from_u128(100), 0)]);
    items[0].attempts = 3;
    let mut outbox = Outbox::new(Window::SOCKET);
    pass(&mut outbox, &items, START);
    let hinted = Answer::Refused {
        id: items[0].message_id,
        code: Some(ErrorCode::RateLimited),
        message: "slow down",
        retry_after_ms: Some(30_000),
    };
    assert_eq!(
        outbox.answer(hinted, START),
        Verdict::Retry {
            not_before: later(START, Duration::from_secs(30))
        },
        "the hint is a floor above the 2-4 s of a fourth attempt"
    );
    pass(&mut outbox, &items, START);
    let Verdict::Retry { not_before } = outbox.answer(refused(items[0].message_id, None), START)
    else {
        panic!("transient");
    };
    let wait = not_before.as_millis() - START.as_millis();
    assert!((2_000..=4_000).contains(&wait), "fourth attempt: {wait}");
}

/// The REST fallback walks the outbox one call at a time with the same rules: a
/// transient refusal holds back the rest of its conversation for the pass, a permanent
/// one does not.
#[test]
fn rest_passes_use_the_same_verdicts() {
    let (a, b) = (
        ConversationId::from_u128(100),
        ConversationId::from_u128(200),
    );
    let items = entries(&[(a, 0), (a, 0), (b, 0), (b, 0), (a, 0)]);
    let mut outbox = Outbox::new(Window::REST);
    outbox.begin(START);
    let mut sent = Vec::new();
    for item in &items {
        if !outbox.offer(item) {
            continue;
        }
        assert!(outbox.is_full(), "one call at a time");
        sent.push(item.message_id);
        let answer = if item.message_id == items[0].message_id {
            refused(item.message_id, Some(ErrorCode::Unavailable))
        } else if item.message_id == items[2].message_id {
            refused(item.message_id, Some(ErrorCode::Forbidden))
        } else {
            Answer::Stored(item.message_id)
        };
        let verdict = outbox.answer(answer, START);
        assert_ne!(verdict, Verdict::NotOurs);
        assert!(!outbox.is_full());
    }
    assert_eq!(
        sent,
        vec![
            items[0].message_id,
            items[2].message_id,
            items[3].message_id
        ],
        "a waits behind its refused first entry; b goes on after a failed one"
    );
}

/// Retry timing on tokio's paused clock: a refused entry is held until exactly its
/// due time, then goes in the next pass.
#[tokio::test(start_paused = true)]
async fn a_retry_goes_when_due_by_the_paused_clock() {
    let clock = TokioClock::starting_at(START);
    let c = ConversationId::from_u128(100);
    let mut items = entries(&[(c, 0), (c, 0)]);
    let mut outbox = Outbox::new(Window::SOCKET);
    assert_eq!(pass(&mut outbox, &items, clock.now()).len(), 2);
    let Verdict::Retry { not_before } = outbox.answer(
        refused(items[0].message_id, Some(ErrorCode::Unavailable)),
        clock.now(),
    ) else {
        panic!("transient");
    };
    outbox.answer(
        refused(items[1].message_id, Some(ErrorCode::Unavailable)),
        clock.now(),
    );
    // The transport stores the new due times and attempts.
    for item in &mut items {
        item.next_attempt_at = not_before.as_millis();
        item.attempts += 1;
    }
    assert!(pass(&mut outbox, &items, clock.now()).is_empty());
    let wait = outbox.next_due_in().expect("a retry is due");
    tokio::time::sleep(wait - Duration::from_millis(1)).await;
    assert!(
        pass(&mut outbox, &items, clock.now()).is_empty(),
        "a millisecond early"
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(clock.now(), not_before);
    assert_eq!(pass(&mut outbox, &items, clock.now()), ids(&items));
    assert_eq!(outbox.next_due_in(), None);
}

#[test]
fn a_message_whose_files_upload_holds_its_conversation_only() {
    let (a, b) = (
        ConversationId::from_u128(100),
        ConversationId::from_u128(200),
    );
    let mut items = entries(&[(a, 0), (a, 0), (b, 0)]);
    items[0].waiting = true;
    let mut outbox = Outbox::new(Window::SOCKET);
    let sent = pass(&mut outbox, &items, START);
    assert_eq!(sent, vec![items[2].message_id]);
    items[0].waiting = false;
    let sent = pass(&mut outbox, &items, START);
    assert_eq!(sent, vec![items[0].message_id, items[1].message_id]);
}

#[test]
fn a_conversations_sends_in_flight_share_one_epoch_of_its_group() {
    let (c, other) = (
        ConversationId::from_u128(100),
        ConversationId::from_u128(200),
    );
    let items = entries(&[(c, 0), (c, 0), (other, 0)]);
    let mut outbox = Outbox::new(Window::SOCKET);
    pass(&mut outbox, &items, START);
    assert_eq!(outbox.epoch_in_flight(c), None, "offered, not gone yet");
    outbox.went(items[0].message_id, 4);
    outbox.went(items[1].message_id, 4);
    outbox.went(items[2].message_id, 0);
    assert_eq!(outbox.epoch_in_flight(c), Some(4));
    assert_eq!(outbox.epoch_in_flight(other), Some(0), "in the open");
    // The group moved on: the first comes back to be sealed again; the second is still
    // in flight, so the conversation's next send still goes in epoch 4 or waits.
    assert!(matches!(
        outbox.answer(stale(items[0].message_id), START),
        Verdict::Reseal { conversation, .. } if conversation == c
    ));
    assert_eq!(outbox.epoch_in_flight(c), Some(4));
    outbox.answer(stale(items[1].message_id), START);
    assert_eq!(
        outbox.epoch_in_flight(c),
        None,
        "nothing in flight any more"
    );
    // A send in the open refused with the same code is a real conflict, for good.
    assert!(matches!(
        outbox.answer(
            refused(items[2].message_id, Some(ErrorCode::Conflict)),
            START
        ),
        Verdict::Fail { .. }
    ));
    assert_eq!(outbox.epoch_in_flight(other), None);
}

/// The server's refusal of an entry sealed in an epoch its group has left.
fn stale(id: MessageId) -> Answer<'static> {
    Answer::Refused {
        id,
        code: Some(ErrorCode::Conflict),
        message: "the conversation's group has moved to a later epoch: apply its commits, \
                  then seal the message again",
        retry_after_ms: None,
    }
}

#[test]
fn only_a_stale_epoch_seals_a_refused_entry_again() {
    let c = ConversationId::from_u128(100);
    let items = entries(&[(c, 0), (c, 0)]);
    let mut outbox = Outbox::new(Window::SOCKET);
    pass(&mut outbox, &items, START);
    outbox.went(items[0].message_id, 4);
    outbox.went(items[1].message_id, 4);
    // A sealed reaction to a message deleted meanwhile gets `conflict` too, and it is
    // final. Sealed again, it would be refused again for ever, holding its conversation
    // back.
    let deleted = Answer::Refused {
        id: items[0].message_id,
        code: Some(ErrorCode::Conflict),
        message: "the message was deleted",
        retry_after_ms: None,
    };
    assert_eq!(
        outbox.answer(deleted, START),
        Verdict::Fail {
            reason: "the message was deleted".into()
        }
    );
    assert!(matches!(
        outbox.answer(stale(items[1].message_id), START),
        Verdict::Reseal { .. }
    ));
}
