//! The world a scenario runs in: a fresh Postgres database with Ferry's schema, users
//! with one session each, and the conversations between them, written straight into the
//! tables (signing up 10k users through Argon2 would take minutes and measure nothing).
//! Both servers read the same tables and accept the same HS256 tokens, minted here by
//! Ferry's own `TokenKeys` with the secret they are started with.

use std::time::Duration;

use anyhow::Context;
use ferry_bench::rng::Rng;
use ferry_proto::{ConversationId, SessionId, UserId};
use ferry_server::auth::tokens::TokenKeys;
use ferry_server::store::direct_key;
use sqlx::{Connection, Executor, PgConnection};

/// The secret both servers are started with.
pub const JWT_SECRET: &str = "ferry-bench-secret-0123456789abcdef0123456789";

/// A conversation of the scenario: its id and its members (indices into the users).
#[derive(Clone, Debug)]
pub struct Conversation {
    pub id: ConversationId,
    pub members: Vec<usize>,
    pub direct: bool,
}

/// Users and conversations to create.
pub struct World {
    pub users: Vec<UserId>,
    pub sessions: Vec<SessionId>,
    pub conversations: Vec<Conversation>,
}

impl World {
    /// `users` users, each direct pair (2k, 2k+1) in a direct conversation, then
    /// `groups` groups of the given sizes with members picked by `rng`.
    pub fn new(users: usize, groups: &[(usize, usize)], rng: &mut Rng) -> Self {
        let ids: Vec<UserId> = (0..users).map(|_| UserId::new()).collect();
        let sessions = (0..users).map(|_| SessionId::new()).collect();
        let mut conversations: Vec<Conversation> = (0..users / 2)
            .map(|k| Conversation {
                id: ConversationId::new(),
                members: vec![2 * k, 2 * k + 1],
                direct: true,
            })
            .collect();
        for &(count, size) in groups {
            for _ in 0..count {
                let mut members = Vec::with_capacity(size);
                while members.len() < size.min(users) {
                    let m = rng.below(users);
                    if !members.contains(&m) {
                        members.push(m);
                    }
                }
                conversations.push(Conversation {
                    id: ConversationId::new(),
                    members,
                    direct: false,
                });
            }
        }
        Self {
            users: ids,
            sessions,
            conversations,
        }
    }

    /// An access token for each user (in the order of [`World::users`]), valid for a
    /// day, as the server issues them at sign-in.
    pub fn tokens(&self) -> Vec<String> {
        let day = Duration::from_secs(86_400);
        let keys = TokenKeys::new(JWT_SECRET.as_bytes(), day, day);
        self.users
            .iter()
            .zip(&self.sessions)
            .map(|(&user, &session)| {
                keys.issue(user, session)
                    .expect("HS256 signing cannot fail")
                    .token
            })
            .collect()
    }
}

/// A fresh database on the server at `admin_url` (dropped first if it exists).
pub async fn fresh_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("connect to {admin_url}"))?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let (base, _) = admin_url
        .rsplit_once('/')
        .context("the admin URL names a database")?;
    Ok(format!("{base}/{name}"))
}

/// Drops a database made by [`fresh_database`].
pub async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    Ok(())
}

/// Writes the world into a database that already has Ferry's schema.
pub async fn seed(url: &str, world: &World) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(url).await?;
    // One transaction: a Ferry node deletes ended sessions (those without a refresh
    // token) when it starts, and the server is already starting; seen between the
    // sessions' insert and their tokens', the seeded sessions were deleted and the tokens'
    // insert failed on its foreign key (a quick-check run on a busy machine).
    let mut db = conn.begin().await?;
    let now = ferry_proto::Timestamp::now().as_millis();
    let names: Vec<String> = (0..world.users.len()).map(|i| format!("u{i}")).collect();
    // Nobody signs in with a password here; the hash only has to be present.
    sqlx::query(
        "INSERT INTO users (id, username, display_name, password_hash, created_at) \
         SELECT id, name, name, 'bench', $3 FROM UNNEST($1::uuid[], $2::text[]) AS t(id, name)",
    )
    .bind(&world.users)
    .bind(&names)
    .bind(now)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "INSERT INTO sessions (id, user_id, device_name, created_at, last_used_at) \
         SELECT sid, uid, 'bench', $3, $3 FROM UNNEST($1::uuid[], $2::uuid[]) AS t(sid, uid)",
    )
    .bind(&world.sessions)
    .bind(&world.users)
    .bind(now)
    .execute(&mut *db)
    .await?;
    // Each session with a live refresh token, as a signed-in device has (nobody presents
    // it: the hash is the session id's bytes): a session with none has ended, and a
    // node deletes ended sessions when it starts.
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) \
         SELECT uuid_send(sid), sid, $2 FROM UNNEST($1::uuid[]) AS t(sid)",
    )
    .bind(&world.sessions)
    .bind(now + 30 * 86_400_000)
    .execute(&mut *db)
    .await?;
    let mut ids = Vec::new();
    let mut kinds = Vec::new();
    let mut keys: Vec<Option<String>> = Vec::new();
    let mut member_conv = Vec::new();
    let mut member_user = Vec::new();
    let mut member_role = Vec::new();
    for c in &world.conversations {
        ids.push(c.id);
        let direct = c.direct;
        kinds.push(if direct { "direct" } else { "group" });
        keys.push(direct.then(|| direct_key(world.users[c.members[0]], world.users[c.members[1]])));
        for (k, &m) in c.members.iter().enumerate() {
            member_conv.push(c.id);
            member_user.push(world.users[m]);
            member_role.push(if k == 0 && !direct { "owner" } else { "member" });
        }
    }
    sqlx::query(
        "INSERT INTO conversations (id, kind, title, direct_key, created_at, updated_at, change_version) \
         SELECT id, kind, CASE WHEN kind = 'group' THEN 'bench group' END, key, $4, $4, 0 \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[]) AS t(id, kind, key)",
    )
    .bind(&ids)
    .bind(&kinds)
    .bind(&keys)
    .bind(now)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "INSERT INTO members (conversation_id, user_id, role, joined_at) \
         SELECT c, u, r, $4 FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]) AS t(c, u, r)",
    )
    .bind(&member_conv)
    .bind(&member_user)
    .bind(&member_role)
    .bind(now)
    .execute(&mut *db)
    .await?;
    // Statistics for what was seeded, but not for the empty `messages`: analyzed while
    // empty, it looks empty to the planner until autovacuum analyzes it again (a minute
    // or more into a run), and plans cached meanwhile scan it (B7 on Ferry spent its
    // Postgres time in one such plan). A real database is never analyzed empty and then
    // loaded at once; never analyzed, the planner sizes it by its pages as it grows.
    (&mut *db)
        .execute("ANALYZE users, sessions, refresh_tokens, conversations, members")
        .await?;
    db.commit().await?;
    Ok(())
}
