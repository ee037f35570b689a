//! Where and how a client runs: [`ClientOptions`] (the server's address, the data
//! folder, the device's name, reconnect delays, the clock and id source tests pin), and
//! the rule that keeps a password off plain `http://` to another machine
//! ([`check_transport`]), with the address rules it rests on (a bare `host:port` means
//! `https://`, but `http://` on this machine).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::{ClientError, Clock, Ids, RandomIds, SystemClock};

/// Where and how a client runs.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The server, `http(s)://host:port`.
    pub server_url: String,
    /// Where account databases live (one subdirectory per account).
    pub data_dir: PathBuf,
    /// A name for this device's session, shown in the account's list of sessions: the
    /// system and the machine's name by default (`Linux · ada-laptop`).
    pub device_name: Option<String>,
    /// Whether a password may go over plain `http://` to a server that is not on this
    /// machine (it then crosses the network readable by anyone on the way); off unless
    /// the user asked for it.
    pub allow_plain_http: bool,
    /// First reconnect delay.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// Where the time comes from: the system's clock (tests pin it).
    pub clock: Arc<dyn Clock>,
    /// Where new message ids come from: random v7 UUIDs (tests pin them).
    pub ids: Arc<dyn Ids>,
    /// The most bytes of downloaded files (and previews) kept on this device; past it the
    /// least recently used go (they download again when opened).
    pub file_cache_bytes: u64,
    /// Whether this device encrypts its conversations end to end (issue 31): once every
    /// member's devices have published keys it makes the conversation's MLS group. On by
    /// default. Off, it still joins, seals and opens in conversations others encrypted;
    /// it only never starts one.
    pub encrypt: bool,
}

impl ClientOptions {
    /// Options with the usual reconnect delays (0.5 s doubling up to 30 s), the system's
    /// clock and random message ids.
    pub fn new(server_url: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            server_url: with_scheme(server_url.into().trim().trim_end_matches('/')),
            data_dir: data_dir.into(),
            device_name: Some(default_device_name()),
            allow_plain_http: false,
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            file_cache_bytes: 1024 * 1024 * 1024,
            encrypt: true,
        }
    }

    /// The OS's data directory for Ferry (e.g. `~/.local/share/ferry` on Linux).
    pub fn default_data_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "ferry").map(|d| d.data_dir().to_path_buf())
    }
}

/// What a device calls its sessions unless told otherwise: its system and its name.
pub fn default_device_name() -> String {
    let system = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "macOS",
        "windows" => "Windows",
        other => other,
    };
    match hostname::get().ok().and_then(|h| h.into_string().ok()) {
        Some(host) if !host.trim().is_empty() => format!("{system} · {}", host.trim()),
        _ => system.to_owned(),
    }
}

/// `host:port` means `https://host:port`, or `http://` for this machine's own server (a
/// loopback address or `localhost`); an address with a scheme is kept as it is.
fn with_scheme(url: &str) -> String {
    if url.is_empty() || url.contains("://") {
        url.to_owned()
    } else if reqwest::Url::parse(&format!("http://{url}")).is_ok_and(|u| is_loopback(&u)) {
        format!("http://{url}")
    } else {
        format!("https://{url}")
    }
}

/// Whether a URL names this machine.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let host = host.to_ascii_lowercase();
            host == "localhost" || host.ends_with(".localhost")
        }
    }
}

/// Refuses to send a password over plain `http://` off this machine unless the user
/// allowed it: it would cross the network in the clear.
pub(crate) fn check_transport(options: &ClientOptions) -> Result<(), ClientError> {
    let Ok(url) = reqwest::Url::parse(&options.server_url) else {
        return Ok(()); // the request itself says what is wrong with the address
    };
    if url.scheme() != "http" || is_loopback(&url) || options.allow_plain_http {
        return Ok(());
    }
    Err(ClientError::Invalid(format!(
        "{} is plain http: your password would cross the network unencrypted. Use https://, \
         or allow plain http explicitly",
        options.server_url
    )))
}

#[cfg(test)]
mod transport_tests {
    use super::*;
    use crate::ErrorKind;

    fn options(url: &str) -> ClientOptions {
        ClientOptions::new(url, "/nonexistent")
    }

    #[test]
    fn a_bare_address_means_https_but_on_this_machine() {
        assert_eq!(
            options("chat.example.com").server_url,
            "https://chat.example.com"
        );
        assert_eq!(
            options("chat.example.com:8443/").server_url,
            "https://chat.example.com:8443"
        );
        assert_eq!(
            options("127.0.0.1:8080").server_url,
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            options("localhost:8080").server_url,
            "http://localhost:8080"
        );
        assert_eq!(options("[::1]:8080").server_url, "http://[::1]:8080");
        assert_eq!(
            options("http://chat.example.com").server_url,
            "http://chat.example.com"
        );
    }

    #[test]
    fn a_password_goes_over_plain_http_only_on_this_machine_or_when_allowed() {
        for ok in [
            "https://chat.example.com",
            "http://127.0.0.1:8080",
            "http://127.0.0.2:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert!(check_transport(&options(ok)).is_ok(), "{ok}");
        }
        for refused in [
            "http://chat.example.com",
            "http://192.0.2.1:8080",
            "chat.example.com:80",
        ] {
            let mut opts = options(refused);
            if opts.server_url.starts_with("https://") {
                // A bare address went to https: nothing to refuse.
                assert!(check_transport(&opts).is_ok(), "{refused}");
                continue;
            }
            let err = check_transport(&opts).expect_err(refused);
            assert_eq!(
                err.kind(),
                ErrorKind::Code(ferry_proto::ErrorCode::InvalidRequest)
            );
            assert!(err.to_string().contains("unencrypted"), "{err}");
            opts.allow_plain_http = true;
            assert!(check_transport(&opts).is_ok(), "{refused} when allowed");
        }
    }
}
