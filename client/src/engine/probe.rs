//! Noticing that the server is back while waiting to reconnect. The backoff between
//! attempts grows to half a minute, so that a server coming back up is not met by every
//! client at once; but a user whose server was down for a minute should not then wait
//! another 26 s looking at "Offline". So while it waits the engine knocks: a plain TCP
//! connection to the server's port every few seconds, which a stopped server refuses at
//! no cost to anyone. Once a knock has failed in this wait, the first one that succeeds
//! ends the wait ([`Probe::back`]). A server that answers TCP but fails the socket (a
//! proxy whose backends are down, a server refusing with 503) is never seen failing a
//! knock, so it gets the full backoff.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::backoff::random_below;

/// How often a waiting engine knocks: this, plus up to as much again at random (so
/// clients spread out).
const KNOCK_EVERY: Duration = Duration::from_millis(1500);
/// How long one knock may take (a host that drops packets never refuses).
const KNOCK_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the server listens.
pub(crate) struct Probe {
    host: String,
    port: u16,
}

impl Probe {
    /// The probe for a server URL (`None` for one without a host).
    pub(crate) fn for_server(url: &str) -> Option<Self> {
        let url = reqwest::Url::parse(url).ok()?;
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        Some(Self {
            host: host.to_owned(),
            port: url.port_or_known_default()?,
        })
    }

    /// One knock: whether a TCP connection is accepted, or why not.
    async fn knock(&self) -> Result<(), String> {
        let connect = TcpStream::connect((self.host.as_str(), self.port));
        match tokio::time::timeout(KNOCK_TIMEOUT, connect).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer".into()),
        }
    }

    /// Returns once the server, after refusing a knock during this wait, accepts one;
    /// `down` is told why the first knock failed. Never returns for a server that
    /// accepts every knock.
    pub(crate) async fn back(&self, down: impl FnMut(&str)) {
        self.back_knocking_every(KNOCK_EVERY, down).await;
    }

    /// [`Self::back`], knocking every `every` (plus up to as much again at random).
    async fn back_knocking_every(&self, every: Duration, mut down: impl FnMut(&str)) {
        let mut refused = false;
        loop {
            match self.knock().await {
                Ok(()) if refused => return,
                Ok(()) => {}
                Err(why) => {
                    if !refused {
                        down(&why);
                    }
                    refused = true;
                }
            }
            let jitter = random_below(every.as_millis() as u64);
            tokio::time::sleep(every + Duration::from_millis(jitter)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knocks_where_the_server_listens() {
        let probe = Probe::for_server("https://chat.example.com").expect("probe");
        assert_eq!((probe.host.as_str(), probe.port), ("chat.example.com", 443));
        let probe = Probe::for_server("http://[::1]:8080").expect("probe");
        assert_eq!((probe.host.as_str(), probe.port), ("::1", 8080));
        assert!(Probe::for_server("not a url").is_none());
    }

    /// A server that went away and comes back is noticed at the next knock, long before
    /// the wait would end; one that accepts every knock is left to the backoff. (Real
    /// time, with knocks 50 ms apart: connections are real I/O, which a paused clock
    /// would time out.)
    #[tokio::test]
    async fn the_wait_ends_when_a_refusing_server_accepts_again() {
        let every = Duration::from_millis(50);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let probe = Probe::for_server(&format!("http://{addr}")).expect("probe");
        let (told, mut heard) = tokio::sync::mpsc::unbounded_channel();
        let waiting = tokio::spawn(async move {
            probe
                .back_knocking_every(every, |why| {
                    let _ = told.send(why.to_owned());
                })
                .await;
        });
        let why = heard.recv().await.expect("the first knock is refused");
        assert!(!why.is_empty());
        // Back on the same port.
        let back = tokio::net::TcpListener::bind(addr).await.expect("rebind");
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the wait ends at a knock")
            .expect("the probe ran");
        drop(back);

        let up = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let probe = Probe::for_server(&format!("http://{}", up.local_addr().expect("addr")))
            .expect("probe");
        let never =
            tokio::time::timeout(every * 20, probe.back_knocking_every(every, |_| {})).await;
        assert!(
            never.is_err(),
            "a server that never refused does not end the wait"
        );
    }
}
