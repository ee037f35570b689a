//! Opening the socket: the WebSocket upgrade with the access token (refreshed once if the
//! server refuses it), then the server's `welcome`, which gives the heartbeat period and
//! the server's clock. [`connect`] returns the open [`Socket`] for a `Link` to serve.

use std::time::Duration;

use ferry_proto::endpoints::SOCKET;
use ferry_proto::{API_BASE, Feature, ServerFrame};
use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::End;
use crate::Shared;

/// How long connecting (TCP, TLS, upgrade, welcome) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open socket to the server.
pub(super) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn ws_url(server_url: &str) -> String {
    let base = server_url.trim_end_matches('/');
    let base = base
        .strip_prefix("https://")
        .map(|rest| format!("wss://{rest}"))
        .or_else(|| {
            base.strip_prefix("http://")
                .map(|rest| format!("ws://{rest}"))
        })
        .unwrap_or_else(|| base.to_owned());
    // A change of members comes as just the change (`members` frames), not the whole
    // member list again; servers that do not know the feature ignore the ask.
    format!(
        "{base}{API_BASE}{SOCKET}?features={}",
        Feature::query(&[Feature::Members])
    )
}

/// Opens an authenticated socket and reads its `welcome`; returns the heartbeat period.
pub(super) async fn connect(shared: &Shared) -> Result<(Socket, Duration), End> {
    let mut token = shared.session.access_token().await?;
    for attempt in 0..2 {
        let mut request = ws_url(&shared.server_url)
            .into_client_request()
            .map_err(|e| End::Reconnect(None, format!("bad server address: {e}")))?;
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| End::Reconnect(None, "unusable access token".into()))?;
        request.headers_mut().insert("authorization", value);
        // Server frames can be large (a conversation with many members); cap at 16 MiB.
        let config = WebSocketConfig::default()
            .max_message_size(Some(16 << 20))
            .max_frame_size(Some(16 << 20));
        // Nagle off (`true`): a send written while the previous frame is unacknowledged
        // would otherwise wait for the server's delayed ACK, up to 40 ms.
        let opened = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(request, Some(config), true),
        )
        .await;
        let mut socket = match opened {
            Err(_) => return Err(End::Reconnect(None, "connecting timed out".into())),
            Ok(Err(tungstenite::Error::Http(response)))
                if response.status() == 401 && attempt == 0 =>
            {
                token = shared.session.refresh().await?.access_token;
                continue;
            }
            Ok(Err(tungstenite::Error::Http(response))) if response.status() == 401 => {
                return Err(End::SignedOut);
            }
            Ok(Err(e)) => return Err(End::Reconnect(None, format!("cannot connect: {e}"))),
            Ok(Ok((socket, _))) => socket,
        };
        let welcome = tokio::time::timeout(CONNECT_TIMEOUT, socket.next()).await;
        return match welcome {
            Ok(Some(Ok(WsMessage::Text(text)))) => match serde_json::from_str(&text) {
                Ok(ServerFrame::Welcome {
                    heartbeat_secs,
                    server_time,
                    ..
                }) => {
                    shared.session.observe_server_time(server_time);
                    Ok((socket, Duration::from_secs(heartbeat_secs.max(1))))
                }
                _ => Err(no_welcome()),
            },
            _ => Err(no_welcome()),
        };
    }
    Err(End::SignedOut)
}

fn no_welcome() -> End {
    End::Reconnect(None, "the server did not say welcome".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_address_follows_the_server_scheme() {
        assert_eq!(
            ws_url("http://127.0.0.1:8080/"),
            "ws://127.0.0.1:8080/api/v1/ws?features=members"
        );
        assert_eq!(
            ws_url("https://chat.example.com"),
            "wss://chat.example.com/api/v1/ws?features=members"
        );
    }
}
