//! A TCP relay on 127.0.0.1 that cuts its first connections partway through the server's answer:
//! a dropped connection, on demand, in front of a real server.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct CuttingProxy {
    pub port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl CuttingProxy {
    /// Relay to `127.0.0.1:target`; the first `cuts` connections are closed after the server has
    /// sent `after_bytes` bytes, later ones are relayed whole.
    pub fn start(target: u16, cuts: usize, after_bytes: usize) -> CuttingProxy {
        CuttingProxy::with(target, cuts, after_bytes, false)
    }

    /// Relay to `127.0.0.1:target`, but after the server has sent `after_bytes` bytes on a
    /// connection, go silent for ten seconds: a server that stops answering.
    pub fn stalling(target: u16, after_bytes: usize) -> CuttingProxy {
        CuttingProxy::with(target, usize::MAX, after_bytes, true)
    }

    fn with(target: u16, cuts: usize, after_bytes: usize, stall: bool) -> CuttingProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopping) = (connections.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let n = count.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, target)) else {
                    continue;
                };
                let limit = if n < cuts { Some(after_bytes) } else { None };
                relay(client, server, limit, stall);
            }
        });
        CuttingProxy {
            port,
            connections,
            stop,
            accept: Some(accept),
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

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn relay(client: TcpStream, server: TcpStream, limit: Option<usize>, stall: bool) {
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || copy(client, server, None, false));
    std::thread::spawn(move || copy(s2, c2, limit, stall));
}

/// Copy `from` → `to` until EOF, or until `limit` bytes (then, with `stall`, wait ten seconds),
/// then close both ways on both sockets.
fn copy(mut from: TcpStream, mut to: TcpStream, limit: Option<usize>, stall: bool) {
    let mut buf = [0u8; 4096];
    let mut sent = 0usize;
    loop {
        let want = limit.map_or(buf.len(), |l| buf.len().min(l - sent));
        if want == 0 {
            if stall {
                std::thread::sleep(std::time::Duration::from_secs(10));
            }
            break;
        }
        match from.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
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
