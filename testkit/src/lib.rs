//! `ferry-testkit`: the harness every Ferry test suite shares, so that the server, client,
//! CLI and desktop tests start and stop the server one way. [`TestDb`] is a fresh
//! database (a SQLite file, or a Postgres database dropped afterwards); [`TestServer`]
//! runs the server in the test's process on port 0 with [`test_config`]; and
//! [`ServerProcess`] runs the real `ferry-server` binary, for tests that SIGKILL it.
//! [`nats_url`] and [`NatsServer`] give cluster tests their NATS; [`S3Server`] gives the
//! blob store's tests S3-compatible storage; [`SmtpSink`] gives the mail tests a real
//! SMTP server whose mailbox they read; [`administrator`] an operator.
//! [`within`] fails a test with a timeout instead of letting it hang: tests wait on
//! events, never sleep.
//!
//! A dev-dependency only: no shipped target may depend on it.

mod bytes;
mod database;
mod nats;
mod operator;
mod process;
mod s3;
mod server;
mod smtp;
mod wait;

pub use bytes::noise;
pub use database::{Backend, TestDb, holds, postgres_admin_url};
pub use nats::{NatsServer, nats_url, subject_prefix};
pub use operator::administrator;
pub use process::{ServerProcess, workspace_binary};
pub use s3::{S3Server, s3_config};
pub use server::{JWT_SECRET, Served, TestServer, metric_at, requests_at, test_config};
pub use smtp::{ReceivedMail, SmtpSink, code_in, smtp_config};
pub use wait::{WAIT, within, within_for};
