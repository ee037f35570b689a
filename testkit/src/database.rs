//! [`TestDb`]: a database of the test's own, a SQLite file in a temporary directory or a
//! new Postgres database, gone when the test ends; the directory also holds the server's
//! data directory.

use ferry_proto::{ConversationId, UserId};
use uuid::Uuid;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A database on the Postgres server of [`postgres_admin_url`].
    Postgres,
}

/// A fresh database: a SQLite file in a temporary directory, or a new Postgres database
/// (dropped when this is dropped). Kept across server restarts within a test.
pub struct TestDb {
    /// What the server connects to (`sqlite://…` or `postgres://…`).
    pub url: String,
    /// The test's directory: the SQLite file and the server's data directory.
    pub dir: tempfile::TempDir,
    /// The admin URL and the database name, to drop it.
    postgres: Option<(String, String)>,
}

/// The Postgres server the tests may create databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("FERRY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

fn with_database(url: &str, name: &str) -> String {
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    format!("{base}/{name}")
}

impl TestDb {
    /// A fresh database on `backend`.
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A fresh SQLite file (what needs no server, so no `await`).
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("ferry.db").display());
        Self {
            url,
            dir,
            postgres: None,
        }
    }

    async fn postgres() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let admin = postgres_admin_url();
        let name = format!("ferry_test_{}", Uuid::new_v4().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "Postgres is required for these tests (FERRY_TEST_DATABASE_URL, \
                     scripts/test.sh starts it): {e}"
                )
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        Self {
            url: with_database(&admin, &name),
            dir,
            postgres: Some((admin, name)),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime; a separate thread with its own runtime may
        // block on the DROP.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await?;
                Ok::<_, sqlx::Error>(())
            })
            .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop a test database");
        }
    }
}

impl TestDb {
    /// Everything the server keeps for this database: the SQLite file with its journal,
    /// or every row of every table of the Postgres database as text (what a dump holds,
    /// read over the connection, so that it works where no `pg_dump` is, as under Wine),
    /// and the data directory (files, blobs) either way. What end-to-end encryption's
    /// tests search for plaintext.
    pub async fn stored_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        if self.url.starts_with("postgres") {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
                .await
                .expect("connect to the test database");
            let tables: Vec<(String,)> =
                sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                    .fetch_all(&mut conn)
                    .await
                    .expect("list the tables");
            for (table,) in tables {
                let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT t::text FROM \"{table}\" t"
                )))
                .fetch_all(&mut conn)
                .await
                .expect("read a table");
                for (row,) in rows {
                    bytes.extend(row.into_bytes());
                    bytes.push(b'\n');
                }
            }
        }
        let mut dirs = vec![self.dir.path().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("a directory").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if let Ok(content) = std::fs::read(&path) {
                    bytes.extend(content);
                }
            }
        }
        bytes
    }
}

impl TestDb {
    /// The epochs the conversation's sealed entries were sealed in, in seq order, read
    /// from each entry's MLS header as the server reads it (the header is not encrypted).
    /// What tells a test which devices an entry was sealed for, without their keys.
    pub async fn sealed_epochs(&self, conversation: ConversationId) -> Vec<i64> {
        const QUERY: &str = "SELECT sealed FROM messages WHERE conversation_id = $1 \
                             AND sealed IS NOT NULL ORDER BY seq";
        let rows: Vec<(Vec<u8>,)> = if self.url.starts_with("postgres") {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
                .await
                .expect("connect to the test database");
            sqlx::query_as(QUERY)
                .bind(conversation.0)
                .fetch_all(&mut conn)
                .await
        } else {
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&self.url)
                .await
                .expect("connect to the test database");
            sqlx::query_as(QUERY)
                .bind(conversation.0)
                .fetch_all(&mut conn)
                .await
        }
        .expect("read the sealed entries");
        rows.iter()
            .map(|(sealed,)| {
                ferry_server::mls::sealed_epoch(sealed, conversation).expect("a sealed entry")
            })
            .collect()
    }

    /// Rewrites the server's database to say that `sender` sent entry `seq` of
    /// `conversation`: a server lying about who wrote what, for the end-to-end encryption
    /// tests. Fails the test unless exactly one entry changed.
    pub async fn forge_sender(&self, conversation: ConversationId, seq: i64, sender: UserId) {
        const UPDATE: &str = "UPDATE messages SET sender_id = $1 WHERE conversation_id = $2 \
                              AND seq = $3";
        let changed = if self.url.starts_with("postgres") {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
                .await
                .expect("connect to the test database");
            sqlx::query(UPDATE)
                .bind(sender.0)
                .bind(conversation.0)
                .bind(seq)
                .execute(&mut conn)
                .await
                .map(|done| done.rows_affected())
        } else {
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&self.url)
                .await
                .expect("connect to the test database");
            sqlx::query(UPDATE)
                .bind(sender.0)
                .bind(conversation.0)
                .bind(seq)
                .execute(&mut conn)
                .await
                .map(|done| done.rows_affected())
        }
        .expect("rewrite the sender");
        assert_eq!(
            changed, 1,
            "entry {seq} of {conversation} is not in the database"
        );
    }
}

/// Whether `needle` occurs in `haystack`, byte for byte.
pub fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}
