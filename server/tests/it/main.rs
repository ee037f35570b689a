//! Integration tests of the Ferry server: the real server on an ephemeral port, against a
//! fresh SQLite file and a fresh Postgres database, driven over real HTTP and WebSockets.
//! One binary, so the suite links once.

mod support;

mod accounts;
mod admin;
mod attacks;
mod backup;
mod bad_input;
mod changes;
mod cluster;
mod concurrency;
mod connections;
mod console;
mod digest;
mod export;
mod faults;
mod files;
mod live;
mod mls;
mod notes;
mod notifications;
mod pictures;
mod requests;
mod rest;
mod retention;
mod store;
mod updates;
