//! `TlsFront`: HTTPS in front of a [`LocalIndex`], with a certificate from a throwaway CA.
//!
//! Every front makes its own CA at start (rcgen) and a server certificate for `127.0.0.1` and
//! `localhost` signed by it; the CA is written as PEM to a temp file that a test can hand to a
//! client as `SSL_CERT_FILE`. No operating-system store holds that CA, so a client that trusts
//! only the usual roots must refuse the front, which is what the TLS tests rely on.
//!
//! The front terminates TLS (rustls with the ring provider, as ureq uses) and forwards the
//! plaintext bytes to the plain index, so the index's request log, auth and fault injection
//! all work unchanged behind it. It counts the TCP connections it accepted and the handshakes
//! that completed: a refused handshake never reaches the index, so the connection count is
//! what shows whether a client retried.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection};

use crate::LocalIndex;

/// A CA made for one test run, and a server certificate for the loopback names it signed.
#[derive(Debug)]
struct Certificates {
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key: Vec<u8>,
}

impl Certificates {
    fn generate() -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own: two CAs with one name would make a verifier check the wrong key
        // (a bad signature) instead of finding no issuer at all.
        let fingerprint = hex::encode(&ca_key.public_key_raw()[..8]);
        ca.distinguished_name.push(
            DnType::CommonName,
            format!("strata-tests throwaway CA {fingerprint}"),
        );
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_der = ca.self_signed(&ca_key)?.der().clone();
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, "strata-tests index");
        server.use_authority_key_identifier_extension = true;
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_der = server.signed_by(&server_key, &issuer)?.der().clone();
        Ok(Self {
            ca_der,
            server_der,
            server_key: server_key.serialize_der(),
        })
    }

    fn server_config(&self) -> io::Result<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.server_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone())),
            )
            .map_err(io::Error::other)
    }
}

/// PEM text of one DER certificate.
fn pem(der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let mut text = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str("-----END CERTIFICATE-----\n");
    text
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicUsize,
    handshakes: AtomicUsize,
}

/// An HTTPS front for a [`LocalIndex`]; stops accepting when dropped.
#[derive(Debug)]
pub struct TlsFront {
    port: u16,
    ca_pem: String,
    ca_file: PathBuf,
    _ca_dir: tempfile::TempDir,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl TlsFront {
    /// Starts a front on a free 127.0.0.1 port that forwards to `index`, with a fresh CA.
    pub fn new(index: &LocalIndex) -> io::Result<Self> {
        Self::forwarding_to(index.port())
    }

    /// Starts a front on a free 127.0.0.1 port that forwards to any plain HTTP server on
    /// `backend_port` of 127.0.0.1 (a contract fake that must be reached over HTTPS).
    pub fn forwarding_to(backend_port: u16) -> io::Result<Self> {
        let certificates = Certificates::generate().map_err(io::Error::other)?;
        let config = Arc::new(certificates.server_config()?);
        let ca_pem = pem(&certificates.ca_der);
        let ca_dir = tempfile::tempdir()?;
        let ca_file = ca_dir.path().join("strata-tests-ca.pem");
        std::fs::write(&ca_file, &ca_pem)?;

        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let counters = Arc::clone(&counters);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    counters.connections.fetch_add(1, Ordering::SeqCst);
                    let config = Arc::clone(&config);
                    let counters = Arc::clone(&counters);
                    // A connection ends when either side closes; its errors only end it.
                    std::thread::spawn(move || {
                        let _ = serve(stream, backend_port, config, &counters);
                    });
                }
            })
        };
        Ok(Self {
            port,
            ca_pem,
            ca_file,
            _ca_dir: ca_dir,
            counters,
            stop,
            acceptor: Some(acceptor),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://127.0.0.1:<port>`, for a front that is not an index's.
    pub fn origin(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// `https://127.0.0.1:<port>/simple/`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/simple/", self.port)
    }

    /// Where `filename` is downloaded from over HTTPS.
    pub fn file_url(&self, filename: &str) -> String {
        format!("https://127.0.0.1:{}/files/{filename}", self.port)
    }

    /// The throwaway CA as PEM text.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A PEM file holding only the throwaway CA (for `SSL_CERT_FILE`); lives as long as `self`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// TCP connections accepted so far, refused handshakes included.
    pub fn connections(&self) -> usize {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// TLS handshakes that completed, i.e. clients that trusted the certificate.
    pub fn handshakes(&self) -> usize {
        self.counters.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so that the thread sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// The TLS state and the client socket it writes to; one lock so records go out in order.
struct Client {
    tls: ServerConnection,
    socket: TcpStream,
}

impl Client {
    fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.socket)?;
        }
        Ok(())
    }
}

fn lock(client: &Mutex<Client>) -> std::sync::MutexGuard<'_, Client> {
    client.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Client to index on this thread, index to client on a second one once the handshake is done.
fn serve(
    stream: TcpStream,
    backend_port: u16,
    config: Arc<ServerConfig>,
    counters: &Counters,
) -> io::Result<()> {
    let mut incoming = stream.try_clone()?;
    let client = Arc::new(Mutex::new(Client {
        tls: ServerConnection::new(config).map_err(io::Error::other)?,
        socket: stream,
    }));
    let mut backend: Option<TcpStream> = None;
    let mut returner: Option<JoinHandle<()>> = None;
    let mut buffer = vec![0u8; 64 * 1024];
    let outcome = loop {
        let read = match incoming.read(&mut buffer) {
            Ok(read) => read,
            Err(error) => break Err(error),
        };
        let mut plaintext = Vec::new();
        let mut closed = read == 0;
        {
            let mut guard = lock(&client);
            let mut pending = &buffer[..read];
            loop {
                if !pending.is_empty()
                    && let Err(error) = guard.tls.read_tls(&mut pending)
                {
                    break Err(error);
                }
                if let Err(error) = guard.tls.process_new_packets() {
                    // Sends the alert, if any, before giving up on the connection.
                    let _ = guard.flush();
                    break Err(io::Error::other(error));
                }
                match guard.tls.reader().read_to_end(&mut plaintext) {
                    Ok(_) => closed = true,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => closed = true,
                }
                guard.flush()?;
                if pending.is_empty() {
                    break Ok(());
                }
            }?;
            if backend.is_none() && !guard.tls.is_handshaking() {
                counters.handshakes.fetch_add(1, Ordering::SeqCst);
                let connection = TcpStream::connect(("127.0.0.1", backend_port))?;
                let reader = connection.try_clone()?;
                let client = Arc::clone(&client);
                returner = Some(std::thread::spawn(move || {
                    let _ = return_to_client(reader, &client);
                }));
                backend = Some(connection);
            }
        }
        if let Some(backend) = backend.as_mut()
            && !plaintext.is_empty()
        {
            backend.write_all(&plaintext)?;
        }
        if closed {
            break Ok(());
        }
    };
    if let Some(backend) = &backend {
        let _ = backend.shutdown(Shutdown::Write);
    }
    if let Some(returner) = returner {
        let _ = returner.join();
    }
    outcome
}

/// Copies the index's answers into TLS records until the index closes, then closes the client.
fn return_to_client(mut backend: TcpStream, client: &Mutex<Client>) -> io::Result<()> {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = backend.read(&mut buffer)?;
        let mut guard = lock(client);
        if read == 0 {
            guard.tls.send_close_notify();
            guard.flush()?;
            return guard.socket.shutdown(Shutdown::Both);
        }
        guard.tls.writer().write_all(&buffer[..read])?;
        guard.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheel::WheelBuilder;
    use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

    fn client_config(trusted: &[u8]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(trusted.to_vec()))
            .expect("a valid CA certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    fn der_of(pem_text: &str) -> Vec<u8> {
        let body: String = pem_text
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        STANDARD.decode(body).unwrap()
    }

    /// GET over TLS trusting only `trusted`; the status line and body, or the TLS error.
    fn get(front: &TlsFront, path: &str, trusted: &[u8]) -> io::Result<(String, Vec<u8>)> {
        let name = "127.0.0.1".try_into().unwrap();
        let connection = ClientConnection::new(client_config(trusted), name).unwrap();
        let socket = TcpStream::connect(("127.0.0.1", front.port()))?;
        let mut stream = StreamOwned::new(connection, socket);
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let status = head.lines().next().unwrap().to_string();
        Ok((status, response[split + 4..].to_vec()))
    }

    #[test]
    fn serves_the_index_to_a_client_trusting_its_ca_and_is_refused_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = WheelBuilder::new("demo", "1.0");
        wheel.write_to(dir.path()).unwrap();
        let index = LocalIndex::start(dir.path()).unwrap();
        let front = TlsFront::new(&index).unwrap();
        let other = TlsFront::new(&index).unwrap();
        assert_eq!(
            std::fs::read_to_string(front.ca_file()).unwrap(),
            front.ca_pem()
        );
        assert_ne!(front.ca_pem(), other.ca_pem(), "each front has its own CA");

        let ca = der_of(front.ca_pem());
        let (status, body) = get(&front, "/simple/demo/", &ca).unwrap();
        assert!(status.contains(" 200"), "{status}");
        assert!(String::from_utf8_lossy(&body).contains(&wheel.filename()));
        let file = format!("/files/{}", wheel.filename());
        let (status, bytes) = get(&front, &file, &ca).unwrap();
        assert!(status.contains(" 200"), "{status}");
        assert_eq!(bytes, wheel.build(), "a wheel passes through byte for byte");
        assert_eq!(index.requests().len(), 2);
        assert_eq!((front.connections(), front.handshakes()), (2, 2));

        let error = get(&front, "/simple/", &der_of(other.ca_pem())).unwrap_err();
        assert!(
            error.to_string().contains("UnknownIssuer"),
            "a client trusting another CA refuses the certificate: {error}"
        );
        assert_eq!(index.requests().len(), 2, "nothing reached the index");
        assert_eq!((front.connections(), front.handshakes()), (3, 2));
    }
}
