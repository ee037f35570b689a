//! Do-not-disturb as this device keeps it: until when, and whether a choice made here
//! still has to reach the server (then the server's copy does not overwrite it).

use ferry_proto::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{LocalStore, StoreResult};

impl LocalStore {
    /// Until when nothing notifies (`None`: off, or over).
    pub fn do_not_disturb_until(&self) -> StoreResult<Option<Timestamp>> {
        self.read(|tx| {
            let until: Option<Option<i64>> = tx
                .query_row("SELECT dnd_until FROM account", [], |r| r.get(0))
                .optional()?;
            Ok(until.flatten().map(Timestamp::from_millis))
        })
    }

    /// Sets do-not-disturb as chosen on this device, to be sent to the server.
    pub fn set_do_not_disturb(&self, until: Option<Timestamp>) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE account SET dnd_until = ?1, dnd_unsent = 1",
                params![until.map(Timestamp::as_millis)],
            )
            .map(drop)
        })
    }

    /// The choice made here that the server does not have yet: `Some(until)` if there is
    /// one (`until` itself `None` for off).
    pub fn unsent_do_not_disturb(&self) -> StoreResult<Option<Option<Timestamp>>> {
        self.read(|tx| {
            let row: Option<Option<i64>> = tx
                .query_row(
                    "SELECT dnd_until FROM account WHERE dnd_unsent = 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(row.map(|until| until.map(Timestamp::from_millis)))
        })
    }

    /// The server's do-not-disturb (what it answered, or a `settings` frame): kept unless
    /// a choice made here is still to go. `sent` says the server answered that choice,
    /// which is then no longer unsent.
    pub fn apply_do_not_disturb(&self, until: Option<Timestamp>, sent: bool) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE account SET dnd_until = ?1, dnd_unsent = 0 WHERE dnd_unsent = 0 OR ?2",
                params![until.map(Timestamp::as_millis), sent],
            )
            .map(drop)
        })
    }
}
