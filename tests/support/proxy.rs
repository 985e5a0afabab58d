//! A TCP relay on 127.0.0.1 in front of a real server, with a fault on demand: connections cut
//! partway through the server's answer, a server that goes silent, or a slow network.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the relay does to the server → client direction of a connection.
#[derive(Clone, Copy)]
enum Fault {
    /// The first `connections` are closed after `after` bytes; later ones are relayed whole.
    Cut { connections: usize, after: usize },
    /// Every connection goes silent for ten seconds after `after` bytes, then closes.
    Stall { after: usize },
    /// Every chunk of at most 4 KiB waits `delay` before it is passed on.
    Slow { delay: Duration },
    /// The answer to a write (a request that begins `POST` or `PATCH`) waits `delay` before it
    /// is passed on; the server has carried the write out by then. Reads pass at once.
    SlowWrites { delay: Duration },
}

pub struct CuttingProxy {
    pub port: u16,
    connections: Arc<AtomicUsize>,
    _listener: Listener,
}

/// A listener on 127.0.0.1 that connects each client to `127.0.0.1:target` and hands both
/// sockets (and the connection's number, from 0) to a handler; stopped on drop.
pub struct Listener {
    pub port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Listener {
    pub fn start(
        target: u16,
        mut handle: impl FnMut(usize, TcpStream, TcpStream) + Send + 'static,
    ) -> Listener {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let accept = std::thread::spawn(move || {
            for (n, client) in listener.incoming().enumerate() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, target)) else {
                    continue;
                };
                handle(n, client, server);
            }
        });
        Listener {
            port,
            stop,
            accept: Some(accept),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl CuttingProxy {
    /// Relay to `127.0.0.1:target`; the first `cuts` connections are closed after the server has
    /// sent `after_bytes` bytes, later ones are relayed whole.
    pub fn start(target: u16, cuts: usize, after_bytes: usize) -> CuttingProxy {
        CuttingProxy::with(
            target,
            Fault::Cut {
                connections: cuts,
                after: after_bytes,
            },
        )
    }

    /// Relay to `127.0.0.1:target`, but after the server has sent `after_bytes` bytes on a
    /// connection, go silent for ten seconds: a server that stops answering.
    pub fn stalling(target: u16, after_bytes: usize) -> CuttingProxy {
        CuttingProxy::with(target, Fault::Stall { after: after_bytes })
    }

    /// Relay to `127.0.0.1:target`, holding each chunk of the server's answer for `delay`.
    pub fn slow(target: u16, delay: Duration) -> CuttingProxy {
        CuttingProxy::with(target, Fault::Slow { delay })
    }

    /// Relay to `127.0.0.1:target`, holding the answer to each write (POST, PATCH) for `delay`:
    /// writes stay in flight that long after the server has done them.
    pub fn slow_writes(target: u16, delay: Duration) -> CuttingProxy {
        CuttingProxy::with(target, Fault::SlowWrites { delay })
    }

    /// `http://127.0.0.1:<port><path>`: the relay's address for an HTTP server.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn with(target: u16, fault: Fault) -> CuttingProxy {
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let listener = Listener::start(target, move |_, client, server| {
            let n = count.fetch_add(1, Ordering::SeqCst);
            let fault = match fault {
                Fault::Cut { connections, .. } if n >= connections => None,
                f => Some(f),
            };
            relay(client, server, fault);
        });
        CuttingProxy {
            port: listener.port,
            connections,
            _listener: listener,
        }
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn relay(client: TcpStream, server: TcpStream, fault: Option<Fault>) {
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        // The request's first bytes, peeked before anything reads them, and left in the socket.
        let mut held = None;
        if let Some(Fault::SlowWrites { delay }) = fault {
            let mut head = [0u8; 5];
            if matches!(client.peek(&mut head), Ok(n) if n >= 4)
                && (head.starts_with(b"POST") || head.starts_with(b"PATCH"))
            {
                held = Some(delay);
            }
        }
        std::thread::spawn(move || copy(client, server, None));
        if let Some(delay) = held {
            std::thread::sleep(delay);
        }
        copy(s2, c2, fault)
    });
}

/// Copy `from` → `to` until EOF or until the fault ends it, then close both ways on both sockets.
fn copy(mut from: TcpStream, mut to: TcpStream, fault: Option<Fault>) {
    let limit = match fault {
        Some(Fault::Cut { after, .. } | Fault::Stall { after }) => Some(after),
        _ => None,
    };
    let mut buf = [0u8; 4096];
    let mut sent = 0usize;
    loop {
        let want = limit.map_or(buf.len(), |l| buf.len().min(l - sent));
        if want == 0 {
            if let Some(Fault::Stall { .. }) = fault {
                std::thread::sleep(Duration::from_secs(10));
            }
            break;
        }
        match from.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(Fault::Slow { delay }) = fault {
                    std::thread::sleep(delay);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                sent += n;
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
