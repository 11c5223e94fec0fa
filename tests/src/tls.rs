//! TLS for the end-to-end tests: a throwaway certificate authority made in the test (rcgen, no network, no
//! files outside the server's temporary folder), the reqwest clients that trust only it, and a minimal
//! WebSocket client over TLS (tokio-rustls) that subscribes to a public channel on a sockudo serving
//! `wss://`, so that an HTTPS trigger can be seen arriving and webhooks fire.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::sockudo::{APP_KEY, ServerTls};
use crate::{Error, Result};

/// The largest WebSocket frame the client accepts.
const MAX_FRAME: usize = 1024 * 1024;

/// A throwaway certificate authority.
pub struct TestCa {
    pem: String,
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

fn tls_err(what: &str) -> impl Fn(rcgen::Error) -> Error + '_ {
    move |e| Error::new(format!("{what}: {e}"))
}

impl TestCa {
    /// A new CA whose subject common name is `name` (give two CAs different names).
    pub fn new(name: &str) -> Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err("CA"))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(tls_err("CA key"))?;
        let cert = params
            .self_signed(&key)
            .map_err(tls_err("CA certificate"))?;
        Ok(TestCa {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate for `reqwest::ClientBuilder::tls_certs_only`.
    pub fn certificate(&self) -> Result<reqwest::Certificate> {
        Ok(reqwest::Certificate::from_pem(self.pem.as_bytes())?)
    }

    /// A leaf certificate for `names` (host names or IP addresses) signed by this CA, with its key: what a
    /// server needs ([`ServerTls`]).
    pub fn server_tls(&self, names: &[&str]) -> Result<ServerTls> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).map_err(tls_err("leaf"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "pusher-rs e2e server");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(tls_err("leaf key"))?;
        let leaf = params
            .signed_by(&key, &self.issuer)
            .map_err(tls_err("leaf certificate"))?;
        Ok(ServerTls {
            cert_pem: leaf.pem(),
            key_pem: key.serialize_pem(),
            ca_pem: self.pem.clone(),
        })
    }

    fn root_store(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.der.clone())
            .map_err(|e| Error::new(format!("root store: {e}")))?;
        Ok(roots)
    }
}

/// A TLS backend of reqwest, as selected by the e2e crate's features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// rustls (feature `tls-rustls`).
    #[cfg(feature = "tls-rustls")]
    Rustls,
    /// The platform library, OpenSSL on Linux (feature `tls-native`).
    #[cfg(feature = "tls-native")]
    Native,
}

impl Backend {
    /// Every backend compiled in.
    pub fn all() -> Vec<Backend> {
        vec![
            #[cfg(feature = "tls-rustls")]
            Backend::Rustls,
            #[cfg(feature = "tls-native")]
            Backend::Native,
        ]
    }

    /// A client builder using this backend, trusting only `ca` (no built-in roots), ignoring the
    /// environment's proxies.
    pub fn client_trusting(self, ca: &TestCa) -> Result<reqwest::ClientBuilder> {
        let builder = reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([ca.certificate()?]);
        Ok(match self {
            #[cfg(feature = "tls-rustls")]
            Backend::Rustls => builder.tls_backend_rustls(),
            #[cfg(feature = "tls-native")]
            Backend::Native => builder.tls_backend_native(),
        })
    }
}

/// A rustls client configuration trusting only `ca` (aws-lc-rs, like the rest of the workspace).
fn client_config(ca: &TestCa) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(format!("tls config: {e}")))?
        .with_root_certificates(ca.root_store()?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A WebSocket connection to the test app over `wss://127.0.0.1:<port>`, speaking just enough of the
/// Pusher protocol to subscribe to public channels and read events.
pub struct WssClient {
    stream: TlsStream<TcpStream>,
    socket_id: String,
}

impl std::fmt::Debug for WssClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WssClient")
            .field("socket_id", &self.socket_id)
            .finish_non_exhaustive()
    }
}

impl WssClient {
    /// Connects (TLS trusting only `ca`, then the WebSocket upgrade) and waits for
    /// `pusher:connection_established`.
    pub async fn connect(port: u16, ca: &TestCa) -> Result<WssClient> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        let name = ServerName::try_from("127.0.0.1")
            .map_err(|e| Error::new(format!("server name: {e}")))?;
        let mut stream = TlsConnector::from(client_config(ca)?)
            .connect(name, tcp)
            .await?;
        let request = format!(
            "GET /app/{APP_KEY}?protocol=7&client=js&version=8.0.0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: cHVzaGVyLXJzLWUyZS13cw==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() > 16 * 1024 {
                return Err(Error::new("websocket upgrade: response head too long"));
            }
            head.push(stream.read_u8().await?);
        }
        let head = String::from_utf8_lossy(&head);
        if !head.starts_with("HTTP/1.1 101") {
            return Err(Error::new(format!("websocket upgrade refused: {head}")));
        }
        let mut client = WssClient {
            stream,
            socket_id: String::new(),
        };
        let hello = client.next_message(Duration::from_secs(5)).await?;
        if hello["event"] != "pusher:connection_established" {
            return Err(Error::new(format!("unexpected first message: {hello}")));
        }
        let data: Value = serde_json::from_str(hello["data"].as_str().unwrap_or("{}"))?;
        client.socket_id = data["socket_id"].as_str().unwrap_or_default().to_owned();
        Ok(client)
    }

    /// The socket id the server gave this connection.
    pub fn socket_id(&self) -> &str {
        &self.socket_id
    }

    /// Subscribes to a public channel and waits for `pusher_internal:subscription_succeeded`.
    pub async fn subscribe(&mut self, channel: &str) -> Result<()> {
        let msg = json!({"event": "pusher:subscribe", "data": {"channel": channel}});
        self.send_text(&msg.to_string()).await?;
        self.next_event(
            "pusher_internal:subscription_succeeded",
            channel,
            Duration::from_secs(5),
        )
        .await
        .map(|_| ())
    }

    /// The next message named `event` on `channel` within `timeout` (others are skipped).
    pub async fn next_event(
        &mut self,
        event: &str,
        channel: &str,
        timeout: Duration,
    ) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = self.next_message(left).await?;
            if msg["event"] == event && msg["channel"] == channel {
                return Ok(msg);
            }
        }
    }

    /// Every message on `channel` that arrives before the next `marker` event on it (which must arrive within
    /// `timeout`): sent after the events under test, the marker proves by order of arrival that nothing else
    /// came, without waiting on a timer.
    pub async fn events_before(
        &mut self,
        marker: &str,
        channel: &str,
        timeout: Duration,
    ) -> Result<Vec<Value>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = self.next_message(left).await?;
            if msg["channel"] == channel {
                if msg["event"] == marker {
                    return Ok(before);
                }
                before.push(msg);
            }
        }
    }

    /// The next text message, parsed as JSON; pings are answered.
    async fn next_message(&mut self, timeout: Duration) -> Result<Value> {
        let read = async {
            loop {
                let (opcode, payload) = read_frame(&mut self.stream).await?;
                match opcode {
                    0x1 => return Ok(serde_json::from_slice::<Value>(&payload)?),
                    0x8 => return Err(Error::new("websocket closed by the server")),
                    0x9 => self.send_frame(0xA, &payload).await?,
                    _ => {}
                }
            }
        };
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| Error::new(format!("no websocket message within {timeout:?}")))?
    }

    async fn send_text(&mut self, text: &str) -> Result<()> {
        self.send_frame(0x1, text.as_bytes()).await
    }

    /// One final frame, masked (as a client must).
    async fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<()> {
        let mask = [0x5a, 0x17, 0xc3, 0x2e];
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= usize::from(u16::MAX) => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await?;
        Ok(())
    }
}

/// Reads one unfragmented server frame: opcode and payload.
async fn read_frame(stream: &mut (impl AsyncRead + Unpin)) -> Result<(u8, Vec<u8>)> {
    let b0 = stream.read_u8().await?;
    let b1 = stream.read_u8().await?;
    let len = match b1 & 0x7f {
        126 => u64::from(stream.read_u16().await?),
        127 => stream.read_u64().await?,
        n => u64::from(n),
    };
    let len = usize::try_from(len)
        .ok()
        .filter(|n| *n <= MAX_FRAME)
        .ok_or_else(|| Error::new(format!("websocket frame of {len} bytes")))?;
    let mask = if b1 & 0x80 != 0 {
        let mut m = [0u8; 4];
        stream.read_exact(&mut m).await?;
        Some(m)
    } else {
        None
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    if let Some(m) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= m[i % 4];
        }
    }
    if b0 & 0x80 == 0 {
        return Err(Error::new("fragmented websocket frames are not supported"));
    }
    Ok((b0 & 0x0f, payload))
}
