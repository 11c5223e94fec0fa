//! Loopback servers on plain threads, so that synchronous tests (the blocking client, the proxy tests'
//! child processes) can use them too: an HTTP/1.1 server, optionally behind TLS (rustls, with a leaf
//! certificate from a throwaway CA made here with rcgen), and an HTTP proxy that answers absolute-form
//! requests itself and tunnels `CONNECT`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// The first byte of a TLS handshake record (a ClientHello).
pub const TLS_HANDSHAKE: u8 = 0x16;

/// A throwaway certificate authority.
pub struct TestCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA whose subject is `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate for `reqwest::ClientBuilder::tls_certs_only`.
    pub fn certificate(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap()
    }

    /// A rustls server configuration with a leaf certificate for `names` (host names or IP addresses)
    /// signed by this CA.
    pub fn server_config(&self, names: &[&str]) -> Arc<ServerConfig> {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "pusher-rs test server");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let leaf = params.signed_by(&key, &self.issuer).unwrap();
        let chain = vec![CertificateDer::from(leaf.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Arc::new(config)
    }
}

/// A reqwest client per TLS backend compiled in, each trusting only `ca` (no built-in roots) and ignoring
/// the environment's proxies; `tweak` adds settings (`resolve`, …).
pub fn clients_trusting(
    ca: &TestCa,
    tweak: impl Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> Vec<(&'static str, reqwest::Client)> {
    let builder = || {
        reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([ca.certificate()])
    };
    let clients = vec![
        #[cfg(feature = "rustls")]
        (
            "rustls",
            tweak(builder().tls_backend_rustls()).build().unwrap(),
        ),
        #[cfg(feature = "native-tls")]
        (
            "native-tls",
            tweak(builder().tls_backend_native()).build().unwrap(),
        ),
    ];
    assert!(!clients.is_empty(), "no TLS backend compiled in");
    clients
}

/// Whether a transport error says that the peer's certificate was refused (rustls: "invalid peer
/// certificate: …"; OpenSSL: "certificate verify failed").
pub fn names_the_certificate(e: &pusher::Error) -> bool {
    matches!(e, pusher::Error::Transport { .. }) && error_chain(e).contains("certificate")
}

/// An error and its sources, lowercased, joined with `: ` (the reason of a transport error is in its
/// source chain).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        text.push_str(": ");
        text.push_str(&s.to_string());
        next = s.source();
    }
    text.to_ascii_lowercase()
}

/// One request as the server read it off the wire.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request target as sent (origin form `/apps/…?…`, or absolute form through a proxy).
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path of the target, without the query string (and without scheme and authority).
    pub fn path(&self) -> &str {
        let t = self.target.as_str();
        let t = match t.find("://") {
            Some(i) => t[i + 3..].find('/').map_or("", |j| &t[i + 3 + j..]),
            None => t,
        };
        t.split('?').next().unwrap_or_default()
    }
}

/// One accepted connection.
#[derive(Debug, Clone)]
pub struct Conn {
    /// The first byte the client sent (`TLS_HANDSHAKE` for a ClientHello, a letter for plain HTTP).
    pub first_byte: Option<u8>,
    /// Why the TLS handshake failed, when it did.
    pub tls_error: Option<String>,
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    conns: Vec<Conn>,
}

/// An HTTP/1.1 server on 127.0.0.1 answering every request 200 with a fixed JSON body (keep-alive). A
/// plain server closes a connection that does not start like an HTTP request (a TLS ClientHello).
pub struct Server {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Server {
    /// Plain HTTP, answering `{}`.
    pub fn plain() -> Server {
        Server::start(None, "{}")
    }

    /// HTTPS with `config`, answering `{}`.
    pub fn tls(config: Arc<ServerConfig>) -> Server {
        Server::start(Some(config), "{}")
    }

    pub fn start(tls: Option<Arc<ServerConfig>>, body: &'static str) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (st, tls) = (st.clone(), tls.clone());
                std::thread::spawn(move || handle(tcp, tls, &st, body));
            }
        });
        Server { port, state }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn connections(&self) -> Vec<Conn> {
        self.state.lock().unwrap().conns.clone()
    }
}

fn handle(tcp: TcpStream, tls: Option<Arc<ServerConfig>>, state: &Mutex<State>, body: &str) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let mut first = [0u8; 1];
    let first_byte = matches!(tcp.peek(&mut first), Ok(1)).then_some(first[0]);
    let index = {
        let mut st = state.lock().unwrap();
        st.conns.push(Conn {
            first_byte,
            tls_error: None,
        });
        st.conns.len() - 1
    };
    match tls {
        None if first_byte.is_some_and(|b| b.is_ascii_uppercase()) => {
            let mut tcp = tcp;
            serve(&mut tcp, state, body);
        }
        None => {
            let _ = tcp.shutdown(Shutdown::Both);
        }
        Some(config) => {
            let Ok(conn) = ServerConnection::new(config) else {
                return;
            };
            let mut stream = StreamOwned::new(conn, tcp);
            while stream.conn.is_handshaking() {
                if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
                    state.lock().unwrap().conns[index].tls_error = Some(e.to_string());
                    return;
                }
            }
            serve(&mut stream, state, body);
        }
    }
}

fn serve(stream: &mut (impl Read + Write), state: &Mutex<State>, body: &str) {
    let mut buf = Vec::new();
    while let Some(seen) = read_request(stream, &mut buf) {
        state.lock().unwrap().seen.push(seen);
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() || stream.flush().is_err() {
            return;
        }
    }
}

/// Reads one request (head and `Content-Length` body) from `stream`, keeping what follows in `buf`.
fn read_request(stream: &mut impl Read, buf: &mut Vec<u8>) -> Option<Seen> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        fill(stream, buf)?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + 4 + len {
        fill(stream, buf)?;
    }
    let body = buf[head_end + 4..head_end + 4 + len].to_vec();
    buf.drain(..head_end + 4 + len);
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}

fn fill(stream: &mut impl Read, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk) {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

/// An HTTP proxy on 127.0.0.1: it records each request head, answers absolute-form requests itself (200,
/// `{}`), and answers `CONNECT 127.0.0.1:<port>` with 200 and relays the bytes both ways.
pub struct Proxy {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Proxy {
    pub fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || proxy_conn(tcp, &log));
            }
        });
        Proxy { port, seen }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn proxy_conn(mut tcp: TcpStream, log: &Mutex<Vec<Seen>>) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut tcp, &mut buf) {
        log.lock().unwrap().push(req.clone());
        if req.method == "CONNECT" {
            let upstream = match req.target.strip_prefix("127.0.0.1:") {
                Some(port) => port
                    .parse::<u16>()
                    .ok()
                    .and_then(|p| TcpStream::connect(("127.0.0.1", p)).ok()),
                None => None,
            };
            let Some(upstream) = upstream else {
                let _ = tcp.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
                return;
            };
            if tcp
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .is_err()
            {
                return;
            }
            relay(tcp, upstream, &buf);
            return;
        }
        let reply =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        if tcp.write_all(reply).is_err() {
            return;
        }
    }
}

fn relay(client: TcpStream, mut upstream: TcpStream, already_read: &[u8]) {
    let _ = client.set_read_timeout(None);
    if upstream.write_all(already_read).is_err() {
        return;
    }
    let (Ok(mut client_r), Ok(mut upstream_w)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = io::copy(&mut client_r, &mut upstream_w);
        let _ = upstream_w.shutdown(Shutdown::Write);
    });
    let mut client_w = client;
    let _ = io::copy(&mut upstream, &mut client_w);
    let _ = client_w.shutdown(Shutdown::Write);
    let _ = up.join();
}
