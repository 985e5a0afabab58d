//! An HTTPS front on 127.0.0.1: terminates TLS with a certificate from a private CA (made with
//! openssl, [`make_certs`]) and relays the plain bytes to a local HTTP server (the scim2-server
//! harness). Stopped on drop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

pub use crate::support::slapd::make_certs;

pub struct TlsFront {
    pub port: u16,
    /// The CA that issued the front's certificate (`ca.pem`), and its folder.
    pub dir: tempfile::TempDir,
    connections: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TlsFront {
    /// A front relaying to `127.0.0.1:target`, its certificate for `names` (`IP:127.0.0.1`).
    pub fn start(target: u16, names: &[&str]) -> TlsFront {
        TlsFront::start_with(target, names, false)
    }

    /// As [`TlsFront::start`], its certificate valid only on 1–2 January 2020 (long expired).
    pub fn start_expired(target: u16, names: &[&str]) -> TlsFront {
        TlsFront::start_with(target, names, true)
    }

    fn start_with(target: u16, names: &[&str], expired: bool) -> TlsFront {
        let dir = tempfile::tempdir().expect("tempdir");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        make_certs(dir.path(), &names);
        if expired {
            reissue_expired(dir.path());
        }
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(dir.path().join("server.pem"))
                .expect("server.pem")
                .map(|c| c.expect("a certificate"))
                .collect();
        let key = PrivateKeyDer::from_pem_file(dir.path().join("server.key")).expect("server.key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the TLS front");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let port = std_listener.local_addr().expect("address").port();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("listener");
                loop {
                    let client = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => match accepted {
                            Ok((c, _)) => c,
                            Err(_) => continue,
                        },
                    };
                    count.fetch_add(1, Ordering::SeqCst);
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        // A client that refuses the certificate ends the handshake: nothing to relay.
                        let Ok(mut tls) = acceptor.accept(client).await else {
                            return;
                        };
                        let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)).await else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                    });
                }
            });
        });
        TlsFront {
            port,
            dir,
            connections,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `https://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// The connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The PEM of the CA that issued the front's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// Issue `server.pem` again from `server.csr`, by the same CA, valid 2020-01-01 to 2020-01-02:
/// `openssl ca` is the openssl 3.0 command that takes dates in the past.
fn reissue_expired(dir: &Path) {
    std::fs::write(dir.join("index.txt"), "").expect("index.txt");
    std::fs::write(dir.join("serial"), "1000\n").expect("serial");
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nserial = serial\n\
         new_certs_dir = .\ndefault_md = sha256\npolicy = any\ncopy_extensions = none\n\
         [any]\ncommonName = supplied\n",
    )
    .expect("ca.cnf");
    let status = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(["ca", "-batch", "-notext", "-config", "ca.cnf"])
        .args(["-cert", "ca.pem", "-keyfile", "ca.key", "-in", "server.csr"])
        .args([
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
        ])
        .args(["-extfile", "server.ext", "-out", "server.pem"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl ca");
    assert!(status.success(), "openssl ca failed");
}

/// Another CA (`CN=Some Other CA`), which issued nothing the front presents: `other-ca.pem` in
/// `dir`.
pub fn other_ca(dir: &Path) -> PathBuf {
    let status = std::process::Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes",
            "-keyout",
            "other-ca.key",
            "-out",
            "other-ca.pem",
            "-days",
            "2",
        ])
        .args(["-subj", "/CN=Some Other CA"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl req failed");
    dir.join("other-ca.pem")
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
