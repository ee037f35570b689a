//! [`PresenceStore`] in SQL: last-seen times, and the cluster's node leases with the
//! users each node holds a socket of.

use std::collections::HashSet;

use async_trait::async_trait;
use ferry_proto::{Timestamp, UserId};
use macro_rules_attribute::apply;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{Conn, Dialect, SqlStore, locked};
use crate::store::rows::ContactRow;
use crate::store::{Contact, PresenceStore, StoreResult};

#[apply(driver_bounds!)]
impl<D: Dialect> SqlStore<D> {
    /// Locks a user's row until commit.
    pub(super) async fn lock_user(conn: &mut Conn<D>, user: UserId) -> StoreResult<()> {
        sqlx::query(locked(
            "SELECT u.id FROM users u WHERE u.id = $1",
            D::lock("u"),
        ))
        .bind(user)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// How many cluster nodes hold a socket of `user`.
    pub(super) async fn nodes_holding(conn: &mut Conn<D>, user: UserId) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM node_users WHERE user_id = $1")
                .bind(user)
                .fetch_one(&mut *conn)
                .await?,
        )
    }
}

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> PresenceStore for SqlStore<D> {
    async fn contacts(&self, users: &[UserId]) -> StoreResult<Vec<Contact>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::new(
            "SELECT DISTINCT me.user_id, u.id, u.last_seen_at FROM members me \
             JOIN members other ON other.conversation_id = me.conversation_id \
             JOIN users u ON u.id = other.user_id WHERE ",
        );
        D::push_in(&mut query, "me.user_id", users);
        query.push(
            " AND other.user_id <> me.user_id AND me.state = 'accepted' AND other.state = 'accepted'",
        );
        // Blocks between them are read apart and taken out here: there are few, and as
        // an anti-join in the query above every contact cost two index probes (most of
        // the query's time when users come online together, B6 and B7).
        let mut blocks = QueryBuilder::new("SELECT blocker_id, blocked_id FROM blocks WHERE ");
        D::push_in(&mut blocks, "blocker_id", users);
        blocks.push(" OR ");
        D::push_in(&mut blocks, "blocked_id", users);
        // One snapshot for both, with the read transaction's cached plans.
        let mut tx = self.read().await?;
        let rows: Vec<ContactRow> = query.build_query_as().fetch_all(&mut *tx).await?;
        let blocks: Vec<(UserId, UserId)> = blocks.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let apart: HashSet<(UserId, UserId)> = blocks
            .into_iter()
            .flat_map(|(a, b)| [(a, b), (b, a)])
            .collect();
        Ok(rows
            .into_iter()
            .filter(|(user, contact, _)| !apart.contains(&(*user, *contact)))
            .map(Contact::from)
            .collect())
    }

    async fn set_last_seen(&self, user: UserId, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_seen_at = $2 WHERE id = $1")
            .bind(user)
            .bind(at.as_millis())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn renew_node(&self, node: Uuid, until: Timestamp) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let renewed: Option<Uuid> =
            sqlx::query_scalar("UPDATE nodes SET expires_at = $2 WHERE id = $1 RETURNING id")
                .bind(node)
                .bind(until.as_millis())
                .fetch_optional(&mut *tx)
                .await?;
        let renewed = renewed.is_some();
        if !renewed {
            sqlx::query("INSERT INTO nodes (id, expires_at) VALUES ($1, $2)")
                .bind(node)
                .bind(until.as_millis())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(renewed)
    }

    async fn node_joined(&self, node: Uuid, user: UserId) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        // The user's row serialises their presence changes across nodes, so exactly one
        // node sees each transition.
        Self::lock_user(&mut tx, user).await?;
        sqlx::query(
            "INSERT INTO node_users (node_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(node)
        .bind(user)
        .execute(&mut *tx)
        .await?;
        let nodes = Self::nodes_holding(&mut tx, user).await?;
        tx.commit().await?;
        Ok(nodes == 1)
    }

    async fn node_left(&self, node: Uuid, user: UserId) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        Self::lock_user(&mut tx, user).await?;
        sqlx::query("DELETE FROM node_users WHERE node_id = $1 AND user_id = $2")
            .bind(node)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        let nodes = Self::nodes_holding(&mut tx, user).await?;
        tx.commit().await?;
        Ok(nodes == 0)
    }

    async fn online_users(&self, users: &[UserId]) -> StoreResult<Vec<UserId>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::new("SELECT DISTINCT user_id FROM node_users WHERE ");
        D::push_in(&mut query, "user_id", users);
        let rows: Vec<(Uuid,)> = query.build_query_as().fetch_all(&self.readers).await?;
        Ok(rows.into_iter().map(|(id,)| UserId(id)).collect())
    }

    async fn drop_nodes(&self, now: Timestamp, node: Option<Uuid>) -> StoreResult<Vec<UserId>> {
        let mut tx = self.write().await?;
        // Whoever deletes a node's row handles its users: two nodes reaping at once
        // never both announce the same user offline.
        let gone: Vec<(Uuid,)> =
            sqlx::query_as("DELETE FROM nodes WHERE expires_at < $1 OR id = $2 RETURNING id")
                .bind(now.as_millis())
                // No node has the nil id.
                .bind(node.unwrap_or(Uuid::nil()))
                .fetch_all(&mut *tx)
                .await?;
        let gone: Vec<Uuid> = gone.into_iter().map(|(id,)| id).collect();
        if gone.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::new("DELETE FROM node_users WHERE ");
        D::push_in(&mut query, "node_id", &gone);
        query.push(" RETURNING user_id");
        let mut users: Vec<UserId> = query
            .build_query_as::<(Uuid,)>()
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|(id,)| UserId(id))
            .collect();
        users.sort_unstable();
        users.dedup();
        let mut offline = Vec::with_capacity(users.len());
        for user in users {
            // Locked as in node_joined, so a join elsewhere is counted or waits.
            Self::lock_user(&mut tx, user).await?;
            let nodes = Self::nodes_holding(&mut tx, user).await?;
            if nodes == 0 {
                offline.push(user);
            }
        }
        tx.commit().await?;
        Ok(offline)
    }
}
