//! `ferry history …`: the history of one's encrypted chats moved between one's own
//! devices. A device that signed in after a chat was encrypted cannot open what was sent
//! there before, and asks the others by itself; on a device that holds that history,
//! `ferry history` lists the asks and `ferry history send` answers one. Nothing is sent
//! without this step: only the person knows which of their devices is theirs.

use anyhow::{Result, bail};
use clap::Subcommand;
use ferry_client::Client;
use ferry_proto::SessionId;
use serde_json::json;

use crate::print::{done, emit};
use crate::{Cli, try_sync};

/// What `ferry history` does.
#[derive(Subcommand)]
pub enum HistoryCommand {
    /// Your other devices that asked this one for its history (the default).
    Requests,
    /// Send this device's history to one of them (its id, as `requests` shows it).
    Send {
        /// The asking device's session id.
        session: SessionId,
    },
    /// Forget a device's ask without sending anything.
    Dismiss {
        /// The asking device's session id.
        session: SessionId,
    },
    /// Ask your other devices again for the history this device cannot open.
    Ask,
}

/// Runs `ferry history …`, after a sync that reads the asks waiting on the server.
pub async fn history(cli: &Cli, client: &Client, command: &HistoryCommand) -> Result<()> {
    let online = try_sync(client).await?.is_some();
    match command {
        HistoryCommand::Requests => {
            for request in client.history_requests()? {
                if cli.json {
                    emit(json!(request));
                } else {
                    println!(
                        "{}  asked {}  (`ferry history send {}` if this device is yours)",
                        request.session_id, request.asked_at, request.session_id
                    );
                }
            }
        }
        HistoryCommand::Send { session } => {
            if !online {
                bail!("the server cannot be reached: the history goes when it can be");
            }
            let sent = client.send_history(*session).await?;
            let entries = if sent == 1 {
                "1 entry".to_owned()
            } else {
                format!("{sent} entries")
            };
            done(cli, &format!("sent the history ({entries}) to that device"));
        }
        HistoryCommand::Dismiss { session } => {
            if !client.dismiss_history_request(*session)? {
                bail!("no device asked with that id (see `ferry history`)");
            }
            done(cli, "dismissed");
        }
        HistoryCommand::Ask => {
            let asked = client.ask_for_history().await?;
            if asked == 0 {
                bail!("you are signed in on no other device to ask");
            }
            done(
                cli,
                &format!(
                    "asked {asked} other device(s); answer on one of them with `ferry history send`"
                ),
            );
        }
    }
    Ok(())
}
