//! Integration tests of the client core against the real server from this repository
//! (on port 0, on an embedded SQLite file), each client with its own SQLite file. One binary, so
//! the suite links once.

mod support;

mod account;
mod at_rest;
mod catch_up;
mod changes;
mod cluster;
mod encryption;
mod encryption_forged;
mod encryption_large;
mod encryption_waits;
mod ended_sessions;
mod faults;
mod files;
mod history_transfer;
mod list;
mod live;
mod no_socket;
mod notifications;
mod offline;
mod outbox;
mod pinned;
mod property;
mod requests;
mod retention;
mod sign_in;
