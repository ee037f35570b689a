//! Backups an operator takes while the server runs, and restores into a fresh server:
//! `ferry-server backup DIR` and `ferry-server restore DIR` (`main.rs`), with the same
//! settings as the server they serve.
//!
//! A backup folder holds the database, `files/` (every object of the file store under its
//! own key: blobs, previews, uploads under way) and, written last, `manifest.json`
//! ([`Manifest`]): a folder without one is a backup that stopped halfway, and restore
//! refuses it.
//! - SQLite: `ferry.db`, made with `VACUUM INTO`, SQLite's own consistent copy of a live
//!   database (a read transaction: the server goes on writing beside it).
//! - Postgres: `ferry.pgdump`, made by `pg_dump --format=custom` (one consistent snapshot)
//!   and restored by `pg_restore`, both from the machine's PostgreSQL client tools.
//!
//! The database is copied first, the files after. A file the copy names is deleted by the
//! server only once no message has named it for `FERRY_FILE_GRACE_SECS` (an hour), so the
//! files copied within that hour include every one the database copy names. The JWT
//! secret is not copied: a restored server with another secret refuses the old access
//! tokens, and clients sign in again through their refresh tokens, which are in the
//! database. Restore checks the folder against its manifest and refuses a database or a
//! file store that already holds anything before it writes; then it puts the files in
//! first and the database last, so that no server ever finds data naming a missing file.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::sync::Arc;

use ferry_proto::Timestamp;
use futures_util::StreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use tokio::io::AsyncWriteExt;

use crate::config::Config;
use crate::files::{FileError, object_store};

/// What a backup folder says of itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The folder's layout: 1.
    pub format: u32,
    /// When it was made.
    pub created_at: Timestamp,
    /// The database it holds: `sqlite` (`ferry.db`) or `postgres` (`ferry.pgdump`).
    pub database: Database,
    /// How many objects of the file store are in `files/`.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Which database a backup holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Database {
    /// The embedded SQLite file.
    Sqlite,
    /// A Postgres database.
    Postgres,
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "Postgres",
        })
    }
}

impl Database {
    fn of(url: &str) -> Result<Self, BackupError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(BackupError::Refused(format!(
                "unsupported database URL: {}",
                crate::redact(url)
            )))
        }
    }

    /// The database's file in the folder.
    fn file(self) -> &'static str {
        match self {
            Self::Sqlite => "ferry.db",
            Self::Postgres => "ferry.pgdump",
        }
    }
}

/// Why a backup or restore stopped.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The folder, database or file store is not one this may touch; the words say why.
    #[error("{0}")]
    Refused(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The file store could not be opened.
    #[error("files: {0}")]
    Files(#[from] FileError),
    /// The file store failed.
    #[error("files: {0}")]
    Objects(#[from] object_store::Error),
    /// Reading or writing the folder failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The manifest is not one this reads.
    #[error("manifest.json: {0}")]
    Manifest(#[from] serde_json::Error),
}

const FORMAT: u32 = 1;

/// Copies the database and files `config` names into `dir` (new, or empty), while the
/// server may be running.
pub async fn backup(config: &Config, dir: &Path) -> Result<Manifest, BackupError> {
    let url = config.effective_database_url();
    let database = Database::of(&url)?;
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(BackupError::Refused(format!(
            "{} is not empty: a backup goes into a new folder",
            dir.display()
        )));
    }
    if database == Database::Sqlite && !sqlite_path(&url).exists() {
        return Err(BackupError::Refused(format!(
            "there is no database at {}: check FERRY_DATA_DIR or DATABASE_URL",
            sqlite_path(&url).display()
        )));
    }
    std::fs::create_dir_all(dir)?;
    let created_at = Timestamp::now();
    let target = dir.join(database.file());
    match database {
        Database::Sqlite => {
            let mut db = SqliteConnection::connect_with(
                &SqliteConnectOptions::from_str(&url)?.create_if_missing(false),
            )
            .await?;
            sqlx::query("VACUUM INTO ?")
                .bind(target.display().to_string())
                .execute(&mut db)
                .await?;
            db.close().await?;
        }
        Database::Postgres => {
            postgres_tool(
                "pg_dump",
                &[
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    "--file",
                    &target.display().to_string(),
                ],
                &url,
                &[],
            )
            .await?;
        }
    }
    let copied = std::time::Instant::now();
    let (store, _) = object_store(config)?;
    let (files, bytes) = copy_out(&store, &dir.join("files")).await?;
    // Past the grace period a file the database copy names may have been deleted before
    // it was copied: such a backup is not called done (it gets no manifest).
    if copied.elapsed().as_secs() >= config.file_grace_secs {
        return Err(BackupError::Refused(format!(
            "copying the files took {} s, longer than FERRY_FILE_GRACE_SECS ({} s), so a file \
             the database copy names may have been deleted before it was copied; raise \
             FERRY_FILE_GRACE_SECS on the servers above the time a backup takes, and back up again",
            copied.elapsed().as_secs(),
            config.file_grace_secs
        )));
    }
    // Written last: a folder without one is an unfinished backup, and restore refuses it.
    let manifest = Manifest {
        format: FORMAT,
        created_at,
        database,
        files,
        bytes,
    };
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    Ok(manifest)
}

/// Restores the backup in `dir` into the database and file store `config` names, which
/// must hold nothing yet (a new SQLite file, or an empty Postgres database), with no
/// server running on them.
pub async fn restore(config: &Config, dir: &Path) -> Result<Manifest, BackupError> {
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).map_err(|e| {
            BackupError::Refused(format!(
                "{} is not a Ferry backup (no manifest.json: {e})",
                dir.display()
            ))
        })?)?;
    if manifest.format != FORMAT {
        return Err(BackupError::Refused(format!(
            "backup format {} is not one this server reads ({FORMAT})",
            manifest.format
        )));
    }
    let url = config.effective_database_url();
    let database = Database::of(&url)?;
    if database != manifest.database {
        return Err(BackupError::Refused(format!(
            "the backup holds a {} database and this server is configured for {}",
            manifest.database, database
        )));
    }
    // Everything is checked before anything is written.
    let files = files_under(&dir.join("files")).await?;
    let bytes = files.iter().map(|(_, _, len)| len).sum::<u64>();
    if (files.len() as u64, bytes) != (manifest.files, manifest.bytes) {
        return Err(BackupError::Refused(format!(
            "the backup's files/ holds {} objects of {bytes} bytes, where its manifest says \
             {} of {}: it is incomplete",
            files.len(),
            manifest.files,
            manifest.bytes
        )));
    }
    let (store, location) = object_store(config)?;
    if store.list(None).next().await.transpose()?.is_some() {
        return Err(BackupError::Refused(format!(
            "the file store {location} is not empty: restore into a fresh server"
        )));
    }
    match database {
        Database::Sqlite => {
            let path = sqlite_path(&url);
            for taken in [
                path.clone(),
                wal_file(&path, "-wal"),
                wal_file(&path, "-shm"),
            ] {
                if taken.exists() {
                    return Err(BackupError::Refused(format!(
                        "{} exists: restore into a fresh server",
                        taken.display()
                    )));
                }
            }
        }
        Database::Postgres => {
            let mut db = sqlx::PgConnection::connect(&url).await?;
            let tables: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .fetch_one(&mut db)
            .await?;
            db.close().await?;
            if tables > 0 {
                return Err(BackupError::Refused(
                    "the database is not empty: restore into a new database".into(),
                ));
            }
        }
    }

    // The files first, the database last: until the database is in place a server
    // started here finds no data that names a missing file, and a restore that stopped
    // halfway left only files, which a fresh store can be emptied of.
    for (path, key, _) in &files {
        let mut source = tokio::fs::File::open(path).await?;
        let mut sink = BufWriter::new(store.clone(), key.clone());
        tokio::io::copy(&mut source, &mut sink).await?;
        sink.shutdown().await?;
    }
    let source = dir.join(database.file());
    match database {
        Database::Sqlite => {
            let path = sqlite_path(&url);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            // Copied beside and made durable, then renamed: a server never finds half a
            // database.
            let partial = path.with_extension("restoring");
            std::fs::copy(&source, &partial)?;
            std::fs::File::open(&partial)?.sync_all()?;
            std::fs::rename(&partial, &path)?;
        }
        Database::Postgres => {
            postgres_tool(
                "pg_restore",
                &[
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                    "--dbname",
                ],
                &url,
                &[&source.display().to_string()],
            )
            .await?;
        }
    }
    Ok(manifest)
}

/// SQLite's companion file of `path` (`-wal`, `-shm`).
fn wal_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The file of a `sqlite://` URL.
fn sqlite_path(url: &str) -> PathBuf {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    PathBuf::from(path.split('?').next().unwrap_or(path))
}

/// `url` without its password, and the password: PostgreSQL's tools take it from
/// `PGPASSWORD`, so that it is never on a command line, which `ps` shows every user.
fn without_password(url: &str) -> (String, Option<String>) {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return (url.to_owned(), None);
    };
    let password = parsed.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    if password.is_some() && parsed.set_password(None).is_err() {
        return (url.to_owned(), None);
    }
    (parsed.into(), password)
}

/// Runs a PostgreSQL client tool on the database `url`, saying what went wrong in its
/// own words.
async fn postgres_tool(
    tool: &str,
    options: &[&str],
    url: &str,
    after: &[&str],
) -> Result<(), BackupError> {
    let (url, password) = without_password(url);
    let mut command = tokio::process::Command::new(tool);
    command.args(options).arg(url).args(after);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command.stdin(Stdio::null()).output().await.map_err(|e| {
        BackupError::Refused(format!(
            "{tool} could not be run ({e}): install PostgreSQL's client tools \
                 (Debian: postgresql-client), of the server's version or newer"
        ))
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BackupError::Refused(format!(
            "{tool} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Copies every object of `store` into files under `dir`: (objects, bytes). An object
/// deleted between the listing and its copy (an upload finished, an orphan swept) is
/// passed over: the database copy, made before, no longer names it.
async fn copy_out(store: &Arc<dyn ObjectStore>, dir: &Path) -> Result<(u64, u64), BackupError> {
    let (mut files, mut bytes) = (0, 0);
    let mut listing = store.list(None);
    while let Some(meta) = listing.next().await.transpose()? {
        let got = match store.get(&meta.location).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let path = dir.join(meta.location.as_ref());
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let mut file = tokio::fs::File::create(&path).await?;
        let mut body = got.into_stream();
        while let Some(chunk) = body.next().await.transpose()? {
            bytes += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        files += 1;
    }
    Ok((files, bytes))
}

/// Every file under `dir`: its path, its key in a file store (its path below `dir`) and
/// its length.
async fn files_under(dir: &Path) -> Result<Vec<(PathBuf, Key, u64)>, BackupError> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let mut entries = match tokio::fs::read_dir(&folder).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && folder == dir => break,
            Err(e) => return Err(e.into()),
        };
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            let meta = entry.metadata().await?;
            if meta.is_dir() {
                folders.push(path);
                continue;
            }
            let relative = path.strip_prefix(dir).expect("found under dir");
            let key = Key::from_iter(
                relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned()),
            );
            found.push((path, key, meta.len()));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        assert_eq!(
            without_password("postgres://ferry:s%40cret%2F1@db:5432/ferry?sslmode=require"),
            (
                "postgres://ferry@db:5432/ferry?sslmode=require".to_owned(),
                Some("s@cret/1".to_owned())
            )
        );
        assert_eq!(
            without_password("postgres://ferry@db/ferry"),
            ("postgres://ferry@db/ferry".to_owned(), None)
        );
    }
}
