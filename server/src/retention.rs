//! Retention: messages older than their conversation's policy (its own, set by an
//! administrator, or the server's `FERRY_RETENTION_DAYS`) are deleted with their files,
//! every `FERRY_RETENTION_CHECK_SECS`. Each conversation's history then starts at a
//! later seq (`history_from`), which `/sync` brings to the members' devices: they drop
//! what they hold below it at their next catch-up, and the devices online are told to
//! catch up at once (`resync`). Every node of a cluster looks; the store's lock makes a
//! conversation trimmed once.

use std::time::Duration;

use ferry_proto::{ServerFrame, Timestamp};

use crate::state::App;
use crate::store::StoreResult;

/// Conversations trimmed per look (the next look goes on).
const ROUND: u32 = 200;

/// Seqs deleted per transaction: a first look on a large server deletes millions of rows,
/// and one transaction holding the conversation's lock for all of them would stall its
/// sends (on SQLite, every write).
const STEP: i64 = 5_000;

/// Looks every `retention_check_secs` until the server shuts down. It takes the app: the
/// devices online are told through the announcer, and the files' sweeper is woken.
pub async fn run(app: App) {
    let mut every =
        tokio::time::interval(Duration::from_secs(app.config.retention_check_secs.max(1)));
    loop {
        tokio::select! {
            () = app.shutdown.cancelled() => break,
            _ = every.tick() => {}
        }
        match trim(&app).await {
            Ok(0) => {}
            Ok(entries) => tracing::info!(entries, "deleted messages past their retention"),
            Err(e) => tracing::warn!(error = %e, "could not apply the retention policy"),
        }
    }
}

/// One look: trims every conversation that holds messages past its policy; how many
/// entries of the streams went.
async fn trim(app: &App) -> StoreResult<u64> {
    let mut entries = 0;
    loop {
        let now = Timestamp::now();
        let due = app
            .store
            .retention_due(app.config.retention_days, now, ROUND)
            .await?;
        let full = due.len() == ROUND as usize;
        for (conversation, _) in due {
            while let Some(trimmed) = app
                .store
                .trim_history(conversation, app.config.retention_days, now, STEP)
                .await?
            {
                entries += trimmed.entries;
                if trimmed.done {
                    app.announce
                        .frame(trimmed.members, None, &ServerFrame::Resync);
                    break;
                }
            }
        }
        app.files.sweep.notify_one();
        if !full {
            return Ok(entries);
        }
    }
}
