//! [`MlsStore`] in SQL. A commit is appended under the conversation's row lock, the
//! lock every send of the conversation takes too, so the check of the group's epoch and
//! the move to the next one are one step: of two commits made in the same epoch exactly
//! one is stored. Claims lock the claimed device's session row, so two claimers never
//! get the same one-time key package.

use async_trait::async_trait;
use ferry_proto::mls::{
    ClaimedKeyPackage, ClaimedKeyPackages, Commit, Device, GroupInfo, KeyPackageStock, MlsBytes,
    Welcome,
};
use ferry_proto::{ConversationId, SessionId, Timestamp, UserId, WelcomeId};
use macro_rules_attribute::apply;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{Conn, Dialect, SqlStore, locked};
use crate::store::mls::{CommitOutcome, NewCommit, NewKeyPackage};
use crate::store::{MlsStore, StoreResult};

/// A key package as a claim takes it.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyPackageRow {
    hash_ref: Vec<u8>,
    key_package: Vec<u8>,
}

/// An entry of a group's commit log.
#[derive(sqlx::FromRow)]
pub(crate) struct CommitRow {
    epoch: i64,
    sender_id: Uuid,
    session_id: Uuid,
    body: Vec<u8>,
    created_at: i64,
}

/// A group's epoch and latest info.
#[derive(sqlx::FromRow)]
pub(crate) struct GroupRow {
    mls_epoch: i64,
    mls_group_info: Option<Vec<u8>>,
}

/// A waiting welcome.
#[derive(sqlx::FromRow)]
pub(crate) struct WelcomeRow {
    id: Uuid,
    conversation_id: Uuid,
    epoch: i64,
    welcome: Vec<u8>,
}

impl From<WelcomeRow> for Welcome {
    fn from(row: WelcomeRow) -> Self {
        Self {
            id: WelcomeId(row.id),
            conversation_id: ConversationId(row.conversation_id),
            epoch: row.epoch,
            welcome: MlsBytes(row.welcome),
        }
    }
}

impl CommitRow {
    fn into_commit(self, conversation_id: ConversationId) -> Commit {
        Commit {
            conversation_id,
            epoch: self.epoch,
            committer: Device {
                user_id: UserId(self.sender_id),
                session_id: SessionId(self.session_id),
            },
            commit: MlsBytes(self.body),
            created_at: Timestamp::from_millis(self.created_at),
        }
    }
}

/// How long a claimed one-time MLS key package is kept, so that the welcome made with it
/// finds its device: a day, far more than a commit takes after its claim.
const CLAIMED_KEY_PACKAGES_KEPT_MS: i64 = 24 * 60 * 60 * 1000;

#[apply(driver_bounds!)]
impl<D: Dialect> SqlStore<D> {
    /// In the transaction that forgets ended sessions: an ended device's key packages,
    /// welcomes and notes go at once (no one may add it to a group any more), and so do
    /// one-time packages claimed long ago (a welcome is made within moments of its claim)
    /// and notes a week old.
    pub(super) async fn forget_ended_devices(
        conn: &mut Conn<D>,
        now: Timestamp,
    ) -> StoreResult<()> {
        const ENDED: &str = "(SELECT id FROM sessions WHERE revoked_at IS NOT NULL OR NOT EXISTS \
             (SELECT 1 FROM refresh_tokens r WHERE r.session_id = sessions.id))";
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM mls_key_packages WHERE claimed_at < $1 OR session_id IN {ENDED}"
        )))
        .bind(now.as_millis() - CLAIMED_KEY_PACKAGES_KEPT_MS)
        .execute(&mut *conn)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM mls_welcomes WHERE session_id IN {ENDED}"
        )))
        .execute(&mut *conn)
        .await?;
        Self::forget_old_notes(conn, ENDED, now).await
    }

    /// The conversation's members; empty when there is no such conversation.
    async fn member_ids(
        conn: &mut Conn<D>,
        conversation: ConversationId,
    ) -> StoreResult<Vec<UserId>> {
        let rows: Vec<(Uuid,)> =
            sqlx::query_as("SELECT user_id FROM members WHERE conversation_id = $1")
                .bind(conversation)
                .fetch_all(&mut *conn)
                .await?;
        Ok(rows.into_iter().map(|(id,)| UserId(id)).collect())
    }

    /// Whether `user` is a member of `conversation`.
    async fn is_member(
        conn: &mut Conn<D>,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<bool> {
        let found: Option<(Uuid,)> = sqlx::query_as(
            "SELECT user_id FROM members WHERE conversation_id = $1 AND user_id = $2",
        )
        .bind(conversation)
        .bind(user)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(found.is_some())
    }

    /// Whether `a` and `b` are members of one conversation.
    async fn share_a_conversation(conn: &mut Conn<D>, a: UserId, b: UserId) -> StoreResult<bool> {
        let shared: Option<(Uuid,)> = sqlx::query_as(
            "SELECT a.conversation_id FROM members a JOIN members b \
             ON b.conversation_id = a.conversation_id AND b.user_id = $2 \
             WHERE a.user_id = $1 LIMIT 1",
        )
        .bind(a)
        .bind(b)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(shared.is_some())
    }

    /// How many key packages a device has waiting, in the caller's transaction.
    async fn stock_in(conn: &mut Conn<D>, session: SessionId) -> StoreResult<KeyPackageStock> {
        let (one_time, last_resort): (i64, i64) = sqlx::query_as(
            "SELECT \
             (SELECT COUNT(*) FROM mls_key_packages \
              WHERE session_id = $1 AND NOT last_resort AND claimed_at IS NULL), \
             (SELECT COUNT(*) FROM mls_key_packages WHERE session_id = $1 AND last_resort)",
        )
        .bind(session)
        .fetch_one(&mut *conn)
        .await?;
        Ok(KeyPackageStock {
            one_time: u32::try_from(one_time).unwrap_or(u32::MAX),
            last_resort: last_resort > 0,
        })
    }

    /// A key package of one device for a claim: its oldest waiting one-time package,
    /// marked claimed, else its last-resort one.
    async fn claim_one(
        conn: &mut Conn<D>,
        session: SessionId,
        now: Timestamp,
    ) -> StoreResult<Option<Vec<u8>>> {
        let one_time: Option<KeyPackageRow> = sqlx::query_as(
            "SELECT hash_ref, key_package FROM mls_key_packages \
             WHERE session_id = $1 AND NOT last_resort AND claimed_at IS NULL \
             ORDER BY created_at, hash_ref LIMIT 1",
        )
        .bind(session)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = one_time {
            sqlx::query("UPDATE mls_key_packages SET claimed_at = $2 WHERE hash_ref = $1")
                .bind(row.hash_ref)
                .bind(now.as_millis())
                .execute(&mut *conn)
                .await?;
            return Ok(Some(row.key_package));
        }
        let last: Option<KeyPackageRow> = sqlx::query_as(
            "SELECT hash_ref, key_package FROM mls_key_packages \
             WHERE session_id = $1 AND last_resort LIMIT 1",
        )
        .bind(session)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(last.map(|row| row.key_package))
    }
}

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> MlsStore for SqlStore<D> {
    async fn publish_key_packages(
        &self,
        device: Device,
        packages: &[NewKeyPackage],
        max_one_time: u32,
        now: Timestamp,
    ) -> StoreResult<Option<KeyPackageStock>> {
        let mut tx = self.write().await?;
        // The device's row, locked: its publishes and the claims of its packages take
        // turns, so the cap below holds.
        let live: Option<(Uuid,)> = sqlx::query_as(locked(
            "SELECT s.id FROM sessions s WHERE s.id = $1 AND s.revoked_at IS NULL",
            D::lock("s"),
        ))
        .bind(device.session_id)
        .fetch_optional(&mut *tx)
        .await?;
        if live.is_none() {
            // A session that ended publishes nothing (its token is about to fail).
            return Ok(Some(KeyPackageStock {
                one_time: 0,
                last_resort: false,
            }));
        }
        for package in packages {
            if package.last_resort {
                sqlx::query(
                    "DELETE FROM mls_key_packages \
                     WHERE session_id = $1 AND last_resort AND hash_ref <> $2",
                )
                .bind(device.session_id)
                .bind(&package.hash_ref)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "INSERT INTO mls_key_packages \
                 (hash_ref, session_id, user_id, key_package, last_resort, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash_ref) DO NOTHING",
            )
            .bind(&package.hash_ref)
            .bind(device.session_id)
            .bind(device.user_id)
            .bind(&package.bytes)
            .bind(package.last_resort)
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
        }
        let stock = Self::stock_in(&mut tx, device.session_id).await?;
        if stock.one_time > max_one_time {
            // Dropped unstored (the transaction rolls back).
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(stock))
    }

    async fn key_package_stock(&self, session: SessionId) -> StoreResult<KeyPackageStock> {
        let mut tx = self.read().await?;
        let stock = Self::stock_in(&mut tx, session).await?;
        tx.commit().await?;
        Ok(stock)
    }

    async fn claim_key_packages(
        &self,
        claimer: UserId,
        users: &[UserId],
        now: Timestamp,
    ) -> StoreResult<Option<ClaimedKeyPackages>> {
        let mut tx = self.write().await?;
        let mut claimed = ClaimedKeyPackages {
            key_packages: Vec::new(),
            without_keys: Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        for &user in users.iter().filter(|u| seen.insert(**u)) {
            if user != claimer && !Self::share_a_conversation(&mut tx, claimer, user).await? {
                return Ok(None);
            }
            // Signed-in devices of an account in use, locked in id order (claims and
            // publishes of a device take turns).
            let sessions: Vec<(Uuid,)> = sqlx::query_as(locked(
                "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.user_id = $1 AND s.revoked_at IS NULL \
                 AND u.deleted_at IS NULL AND u.suspended_at IS NULL ORDER BY s.id",
                D::lock("s"),
            ))
            .bind(user)
            .fetch_all(&mut *tx)
            .await?;
            for (session,) in sessions {
                let device = Device {
                    user_id: user,
                    session_id: SessionId(session),
                };
                match Self::claim_one(&mut tx, device.session_id, now).await? {
                    Some(bytes) => claimed.key_packages.push(ClaimedKeyPackage {
                        device,
                        key_package: MlsBytes(bytes),
                    }),
                    None => claimed.without_keys.push(device),
                }
            }
        }
        tx.commit().await?;
        Ok(Some(claimed))
    }

    async fn signed_in_devices(&self, asker: UserId, users: &[UserId]) -> StoreResult<Vec<Device>> {
        let mut tx = self.read().await?;
        let mut devices = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for &user in users.iter().filter(|u| seen.insert(**u)) {
            if user != asker && !Self::share_a_conversation(&mut tx, asker, user).await? {
                continue;
            }
            // As claims count them: a session not revoked, of an account not deleted. A
            // suspension revokes its account's sessions.
            let sessions: Vec<(Uuid,)> = sqlx::query_as(
                "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.user_id = $1 AND s.revoked_at IS NULL AND u.deleted_at IS NULL \
                 ORDER BY s.id",
            )
            .bind(user)
            .fetch_all(&mut *tx)
            .await?;
            devices.extend(sessions.into_iter().map(|(session,)| Device {
                user_id: user,
                session_id: SessionId(session),
            }));
        }
        tx.commit().await?;
        Ok(devices)
    }

    async fn encrypted_co_members(&self, users: &[UserId]) -> StoreResult<Vec<(UserId, UserId)>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::new(
            "SELECT DISTINCT me.user_id, other.user_id FROM members me \
             JOIN conversations c ON c.id = me.conversation_id AND c.mls_epoch > 0 \
             JOIN members other ON other.conversation_id = me.conversation_id WHERE ",
        );
        D::push_in(&mut query, "me.user_id", users);
        Ok(query.build_query_as().fetch_all(&self.readers).await?)
    }

    async fn append_commit(&self, new: NewCommit) -> StoreResult<CommitOutcome> {
        let mut tx = self.write().await?;
        let epoch: Option<(i64,)> = sqlx::query_as(locked(
            "SELECT c.mls_epoch FROM conversations c WHERE c.id = $1",
            D::lock("c"),
        ))
        .bind(new.conversation_id)
        .fetch_optional(&mut *tx)
        .await?;
        let members = Self::member_ids(&mut tx, new.conversation_id).await?;
        let Some((epoch,)) = epoch else {
            return Ok(CommitOutcome::NotMember);
        };
        if !members.contains(&new.committer.user_id) {
            return Ok(CommitOutcome::NotMember);
        }
        if new.epoch != epoch {
            return Ok(CommitOutcome::Stale { epoch });
        }
        let next = epoch + 1;
        let mut welcomes = Vec::new();
        if let Some((welcome, recipients)) = &new.welcome {
            for hash_ref in recipients {
                let owner: Option<(Uuid, Uuid)> = sqlx::query_as(
                    "SELECT k.session_id, k.user_id FROM mls_key_packages k \
                     JOIN sessions s ON s.id = k.session_id \
                     WHERE k.hash_ref = $1 AND s.revoked_at IS NULL",
                )
                .bind(hash_ref)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((session, user)) = owner else {
                    return Ok(CommitOutcome::UnknownRecipient);
                };
                let device = Device {
                    user_id: UserId(user),
                    session_id: SessionId(session),
                };
                if !members.contains(&device.user_id) {
                    return Ok(CommitOutcome::UnknownRecipient);
                }
                welcomes.push((
                    device,
                    Welcome {
                        id: WelcomeId::new(),
                        conversation_id: new.conversation_id,
                        epoch: next,
                        welcome: MlsBytes(welcome.clone()),
                    },
                ));
            }
        }
        sqlx::query(
            "INSERT INTO mls_commits \
             (conversation_id, epoch, sender_id, session_id, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new.conversation_id)
        .bind(epoch)
        .bind(new.committer.user_id)
        .bind(new.committer.session_id)
        .bind(&new.commit)
        .bind(new.now.as_millis())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE conversations SET mls_epoch = $2, mls_group_info = $3 WHERE id = $1")
            .bind(new.conversation_id)
            .bind(next)
            .bind(&new.group_info)
            .execute(&mut *tx)
            .await?;
        // `/sync` brings the new epoch to devices that were away: the first commit makes
        // the conversation encrypted, and a device that missed it must seal its next send.
        Self::mark_changed(&mut tx, new.conversation_id).await?;
        for (device, welcome) in &welcomes {
            sqlx::query(
                "INSERT INTO mls_welcomes \
                 (id, session_id, conversation_id, epoch, welcome, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(welcome.id)
            .bind(device.session_id)
            .bind(welcome.conversation_id)
            .bind(welcome.epoch)
            .bind(&welcome.welcome.0)
            .bind(new.now.as_millis())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(CommitOutcome::Accepted {
            commit: Commit {
                conversation_id: new.conversation_id,
                epoch,
                committer: new.committer,
                commit: MlsBytes(new.commit),
                created_at: new.now,
            },
            welcomes,
            members,
        })
    }

    async fn commits(
        &self,
        conversation: ConversationId,
        user: UserId,
        from_epoch: i64,
        limit: u32,
    ) -> StoreResult<Option<(Vec<Commit>, i64)>> {
        let mut tx = self.read().await?;
        if !Self::is_member(&mut tx, conversation, user).await? {
            return Ok(None);
        }
        let (epoch,): (i64,) = sqlx::query_as("SELECT mls_epoch FROM conversations WHERE id = $1")
            .bind(conversation)
            .fetch_one(&mut *tx)
            .await?;
        let rows: Vec<CommitRow> = sqlx::query_as(
            "SELECT epoch, sender_id, session_id, body, created_at FROM mls_commits \
             WHERE conversation_id = $1 AND epoch >= $2 ORDER BY epoch LIMIT $3",
        )
        .bind(conversation)
        .bind(from_epoch)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let commits = rows
            .into_iter()
            .map(|row| row.into_commit(conversation))
            .collect();
        Ok(Some((commits, epoch)))
    }

    async fn group_info(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<Option<GroupInfo>> {
        let mut tx = self.read().await?;
        if !Self::is_member(&mut tx, conversation, user).await? {
            return Ok(None);
        }
        let row: GroupRow =
            sqlx::query_as("SELECT mls_epoch, mls_group_info FROM conversations WHERE id = $1")
                .bind(conversation)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row.mls_group_info.map(|info| GroupInfo {
            conversation_id: conversation,
            epoch: row.mls_epoch,
            group_info: MlsBytes(info),
        }))
    }

    async fn welcomes(&self, session: SessionId) -> StoreResult<Vec<Welcome>> {
        let rows: Vec<WelcomeRow> = sqlx::query_as(
            "SELECT id, conversation_id, epoch, welcome FROM mls_welcomes \
             WHERE session_id = $1 ORDER BY created_at, id",
        )
        .bind(session)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(Welcome::from).collect())
    }

    async fn drop_welcome(&self, session: SessionId, welcome: WelcomeId) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let gone: Option<(Uuid,)> = sqlx::query_as(
            "DELETE FROM mls_welcomes WHERE id = $1 AND session_id = $2 RETURNING id",
        )
        .bind(welcome)
        .bind(session)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone.is_some())
    }
}
