//! [`Config`]: every setting, from flags or `FERRY_*` environment variables, with
//! defaults that run locally with nothing installed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Ferry server settings.
#[derive(Clone, Debug, Parser)]
#[command(name = "ferry-server", version, about = "The Ferry chat server")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "FERRY_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// `postgres://…` or `sqlite://…`; default: SQLite `ferry.db` in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where the embedded database and the generated JWT secret live.
    #[arg(long, env = "FERRY_DATA_DIR", default_value = "ferry-data")]
    pub data_dir: PathBuf,
    /// HMAC secret for access tokens (at least 32 bytes); default: generated once and kept
    /// in the data directory. Every node of a cluster needs the same one. From the
    /// environment only: the flag is refused, since `ps` shows a command line to everyone.
    #[arg(long, env = "FERRY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// A file holding the JWT secret (a container secret, say); read at start. Set at most
    /// one of this and `FERRY_JWT_SECRET`.
    #[arg(long, env = "FERRY_JWT_SECRET_FILE", conflicts_with = "jwt_secret")]
    pub jwt_secret_file: Option<PathBuf>,
    /// NATS URL of the cluster bus; unset means a single node. A cluster needs Postgres.
    #[arg(long, env = "FERRY_NATS_URL")]
    pub nats_url: Option<String>,
    /// The cluster's NATS subject prefix: every node of one cluster uses the same, and
    /// clusters that share a NATS use different ones.
    #[arg(long, env = "FERRY_NATS_SUBJECT", default_value = "ferry")]
    pub nats_subject: String,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "FERRY_LOG_JSON")]
    pub log_json: bool,
    /// Comma-separated `Origin`s allowed to open the WebSocket; empty allows any (native
    /// clients send no Origin).
    #[arg(long, env = "FERRY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "FERRY_ACCESS_TTL_SECS", default_value_t = 900)]
    pub access_ttl_secs: u64,
    /// Lifetime of refresh tokens, in days.
    #[arg(long, env = "FERRY_REFRESH_TTL_DAYS", default_value_t = 30)]
    pub refresh_ttl_days: u64,
    /// The server pings every socket this often.
    #[arg(long, env = "FERRY_HEARTBEAT_SECS", default_value_t = 20)]
    pub heartbeat_secs: u64,
    /// How long a user whose last socket closed is still shown online, in seconds: a
    /// reconnect within it announces and stores nothing. 0 announces "offline" at once.
    #[arg(long, env = "FERRY_PRESENCE_GRACE_SECS", default_value_t = 5)]
    pub presence_grace_secs: u64,
    /// Longest message body, in characters.
    #[arg(long, env = "FERRY_MAX_BODY_CHARS", default_value_t = ferry_proto::MAX_BODY_CHARS)]
    pub max_body_chars: usize,
    /// How long after sending a message its author may edit it, in seconds; 0 (the
    /// default) means no limit. Deleting has no window.
    #[arg(long, env = "FERRY_EDIT_WINDOW_SECS", default_value_t = 0)]
    pub edit_window_secs: u64,
    /// Where attachments' bytes live: a directory, or `s3://bucket` (S3-compatible
    /// storage, configured by the usual `AWS_*` variables: `AWS_ENDPOINT_URL`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`). Default: `files/` in the
    /// data directory. Every node of a cluster needs the same bucket.
    #[arg(long, env = "FERRY_FILES")]
    pub files: Option<String>,
    /// The S3-compatible endpoint (`http://127.0.0.1:9000` for MinIO, say); unset: AWS,
    /// or `AWS_ENDPOINT_URL`.
    #[arg(long, env = "FERRY_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// The S3 region; unset: `AWS_REGION`, else `us-east-1`.
    #[arg(long, env = "FERRY_S3_REGION")]
    pub s3_region: Option<String>,
    /// The S3 access key id; unset: `AWS_ACCESS_KEY_ID`.
    #[arg(long, env = "FERRY_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    /// The S3 secret key; unset: `AWS_SECRET_ACCESS_KEY`. From the environment only (see
    /// `jwt_secret`).
    #[arg(long, env = "FERRY_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// The largest file one may send, in bytes.
    #[arg(long, env = "FERRY_MAX_FILE_BYTES", default_value_t = ferry_proto::DEFAULT_MAX_FILE_BYTES)]
    pub max_file_bytes: u64,
    /// How many bytes of files each user may store (a file sent twice counts once).
    #[arg(long, env = "FERRY_FILE_QUOTA_BYTES", default_value_t = 10 * 1024 * 1024 * 1024)]
    pub file_quota_bytes: u64,
    /// How long a file no message names any more is kept before it is deleted, in
    /// seconds (a grace period against a send racing the deletion).
    #[arg(long, env = "FERRY_FILE_GRACE_SECS", default_value_t = 3600)]
    pub file_grace_secs: u64,
    /// How long an upload no message carries is kept (unfinished, or finished and never
    /// sent), in seconds; a client that comes back later starts it again.
    #[arg(long, env = "FERRY_UPLOAD_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub upload_ttl_secs: u64,
    /// Most bytes of message bodies one `/sync` page brings as the latest messages.
    #[arg(long, env = "FERRY_SYNC_MESSAGE_BYTES", default_value_t = ferry_proto::SYNC_MESSAGE_BYTES)]
    pub sync_message_bytes: usize,
    /// Messages a user may send per second (sustained), over all devices.
    #[arg(long, env = "FERRY_SEND_RATE", default_value_t = 20)]
    pub send_rate_per_sec: u32,
    /// Messages a user may send in a burst.
    #[arg(long, env = "FERRY_SEND_BURST", default_value_t = 100)]
    pub send_burst: u32,
    /// Wrong passwords per username from one place (an IPv4 address or an IPv6 /64) per
    /// minute; ten times this per username over all places. Right ones do not count.
    #[arg(long, env = "FERRY_LOGIN_RATE", default_value_t = 10)]
    pub login_rate_per_min: u32,
    /// Sign-ups and sign-ins per client IP per minute (behind a load balancer every client
    /// has its address, so raise this there).
    #[arg(long, env = "FERRY_AUTH_RATE_PER_IP", default_value_t = 30)]
    pub auth_rate_per_ip_per_min: u32,
    /// Groups created and membership changes (adds, removals) one user may make per
    /// minute (and at once): each is announced to every member of the group.
    #[arg(long, env = "FERRY_MEMBERSHIP_RATE", default_value_t = 30)]
    pub membership_rate_per_min: u32,
    /// Frames one socket may send per second before it is closed with 4029.
    #[arg(long, env = "FERRY_FRAME_RATE", default_value_t = 200)]
    pub frame_rate_per_sec: u32,
    /// Open sockets per user.
    #[arg(long, env = "FERRY_MAX_CONNECTIONS_PER_USER", default_value_t = 16)]
    pub max_connections_per_user: usize,
    /// Connections open at once, in all (0: no cap); past it new ones are closed at once.
    #[arg(long, env = "FERRY_MAX_CONNECTIONS", default_value_t = 50_000)]
    pub max_connections: usize,
    /// Connections open at once from one client place (an IPv4 address or an IPv6 /64; 0:
    /// no cap). Behind a load balancer every client has its address: set 0 there.
    #[arg(long, env = "FERRY_MAX_CONNECTIONS_PER_IP", default_value_t = 500)]
    pub max_connections_per_ip: usize,
    /// How long a client may take to send a request's head (and an idle keep-alive
    /// connection may wait for its next one), in seconds.
    #[arg(long, env = "FERRY_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// On SIGTERM, how long requests in flight may take to finish before the server
    /// exits anyway, in seconds.
    #[arg(long, env = "FERRY_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// How long a write to a client may make no progress (a client that stopped reading
    /// a download or its socket's frames) before its connection is closed, in seconds.
    #[arg(long, env = "FERRY_SEND_TIMEOUT_SECS", default_value_t = 30)]
    pub send_timeout_secs: u64,
    /// Memory image previews being made may take at once, in MiB (decoded pixels and
    /// the source file); more wait their turn.
    #[arg(long, env = "FERRY_PREVIEW_MEMORY_MIB", default_value_t = 512)]
    pub preview_memory_mib: u32,
    /// A token `/metrics` requires (`Authorization: Bearer …`); unset: `/metrics` is
    /// open (keep it off the public network then). `/healthz` and `/readyz` stay open for
    /// load balancers.
    #[arg(long, env = "FERRY_OPS_TOKEN", hide_env_values = true)]
    pub ops_token: Option<String>,
    /// Timeout of one REST request, in seconds.
    #[arg(long, env = "FERRY_REQUEST_TIMEOUT_SECS", default_value_t = 15)]
    pub request_timeout_secs: u64,
    /// Postgres pool size.
    #[arg(long, env = "FERRY_DB_POOL", default_value_t = 16)]
    pub db_pool: u32,
    /// Group-commit shards on Postgres, each committing its conversations' messages side
    /// by side with the others (0: one per CPU core). SQLite always uses one.
    #[arg(long, env = "FERRY_COMMITTERS", default_value_t = 0)]
    pub committers: usize,
    /// The SMTP server mail goes through: `smtp://host:port` (plain, for a relay on this
    /// machine), `smtp://host:587?tls=required` (STARTTLS) or `smtps://host:465`, with
    /// `user:password@` when it wants a login. Unset: no mail (no password resets by
    /// mail, no digests). From the environment only, as it may hold a password.
    #[arg(long, env = "FERRY_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Who mail comes from.
    #[arg(
        long,
        env = "FERRY_MAIL_FROM",
        default_value = "Ferry <ferry@localhost>"
    )]
    pub mail_from: String,
    /// Where people reach this server, for the links in mail (`https://chat.example.com`);
    /// default: `http://` and the bind address.
    #[arg(long, env = "FERRY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// How long a mailed link (address confirmation, password reset) works, in minutes.
    #[arg(long, env = "FERRY_MAIL_TOKEN_MINUTES", default_value_t = 60)]
    pub mail_token_minutes: u64,
    /// How long the username of a deleted account stays taken, in days.
    #[arg(long, env = "FERRY_USERNAME_HOLD_DAYS", default_value_t = 30)]
    pub username_hold_days: u64,
    /// Missed-message mail goes to someone with no device online for this long, in
    /// seconds (with mail set up, and unless they turned it off).
    #[arg(long, env = "FERRY_DIGEST_AFTER_SECS", default_value_t = 3600)]
    pub digest_after_secs: u64,
    /// At most one missed-message mail per person this often, in seconds.
    #[arg(long, env = "FERRY_DIGEST_INTERVAL_SECS", default_value_t = 86_400)]
    pub digest_interval_secs: u64,
    /// How long messages and their files are kept, in days, where a conversation has no
    /// policy of its own (an administrator sets one); 0 (the default) keeps them for
    /// ever. Older ones are deleted on the server and, at their next catch-up, on every
    /// device.
    #[arg(long, env = "FERRY_RETENTION_DAYS", default_value_t = 0)]
    pub retention_days: u32,
    /// How often the server looks for messages past their retention, in seconds.
    #[arg(long, env = "FERRY_RETENTION_CHECK_SECS", default_value_t = 600)]
    pub retention_check_secs: u64,
    /// A directory of desktop app updates this server publishes at `/updates/`: the
    /// updater's manifest `latest.json` beside the signed bundles it names (see
    /// docs/operations.md, "Publishing an app update"). Unset: no updates are published.
    #[arg(long, env = "FERRY_UPDATES_DIR")]
    pub updates_dir: Option<PathBuf>,
}

impl Config {
    /// The defaults, as if started with no flags and no environment (for tests).
    pub fn defaults() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            data_dir: PathBuf::from("ferry-data"),
            jwt_secret: None,
            jwt_secret_file: None,
            nats_url: None,
            nats_subject: "ferry".into(),
            log_json: false,
            allowed_origins: Vec::new(),
            access_ttl_secs: 900,
            refresh_ttl_days: 30,
            heartbeat_secs: 20,
            presence_grace_secs: 5,
            max_body_chars: ferry_proto::MAX_BODY_CHARS,
            edit_window_secs: 0,
            files: None,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            max_file_bytes: ferry_proto::DEFAULT_MAX_FILE_BYTES,
            file_quota_bytes: 10 * 1024 * 1024 * 1024,
            file_grace_secs: 3600,
            upload_ttl_secs: 7 * 24 * 3600,
            sync_message_bytes: ferry_proto::SYNC_MESSAGE_BYTES,
            send_rate_per_sec: 20,
            send_burst: 100,
            login_rate_per_min: 10,
            auth_rate_per_ip_per_min: 30,
            membership_rate_per_min: 30,
            frame_rate_per_sec: 200,
            max_connections_per_user: 16,
            max_connections: 50_000,
            max_connections_per_ip: 500,
            header_timeout_secs: 10,
            shutdown_grace_secs: 10,
            send_timeout_secs: 30,
            preview_memory_mib: 512,
            ops_token: None,
            request_timeout_secs: 15,
            db_pool: 16,
            committers: 0,
            smtp_url: None,
            mail_from: "Ferry <ferry@localhost>".into(),
            public_url: None,
            mail_token_minutes: 60,
            username_hold_days: 30,
            digest_after_secs: 3600,
            retention_days: 0,
            retention_check_secs: 600,
            digest_interval_secs: 86_400,
            updates_dir: None,
        }
    }

    /// The base of the links this server mails.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.bind),
        }
    }

    /// The database URL in effect: the configured one or SQLite in the data directory.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("ferry.db").display()),
        }
    }

    /// Group-commit shards for the store at `url`.
    pub(crate) fn committers_for(&self, url: &str) -> usize {
        if url.starts_with("sqlite:") {
            1
        } else if self.committers > 0 {
            self.committers
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }

    pub(crate) fn presence_grace(&self) -> Duration {
        Duration::from_secs(self.presence_grace_secs)
    }

    pub(crate) fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs.max(1))
    }
}
