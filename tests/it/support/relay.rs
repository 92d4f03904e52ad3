//! A TCP relay on 127.0.0.1 that forwards every connection to a target and records the bytes
//! both ways: to see what the proxy sends a node (its token, its loop marker), or to stand for
//! a forwarder that leads back to the proxy.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Relay {
    pub addr: SocketAddr,
    /// Bytes sent towards the target, every connection appended.
    requests: Arc<Mutex<Vec<u8>>>,
    /// Bytes the target sent back.
    responses: Arc<Mutex<Vec<u8>>>,
    task: JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay binds");
        Self::on(listener, target)
    }

    /// Relays from an already bound listener (to know the address before the target exists).
    pub fn on(listener: TcpListener, target: SocketAddr) -> Self {
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let responses = Arc::new(Mutex::new(Vec::new()));
        let (req, resp) = (requests.clone(), responses.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (req, resp) = (req.clone(), resp.clone());
                tokio::spawn(async move {
                    let Ok(upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (ur, uw) = upstream.into_split();
                    tokio::join!(pipe(cr, uw, req), pipe(ur, cw, resp));
                });
            }
        });
        Self {
            addr,
            requests,
            responses,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> String {
        String::from_utf8_lossy(&self.requests.lock().expect("lock")).into_owned()
    }

    pub fn responses(&self) -> String {
        String::from_utf8_lossy(&self.responses.lock().expect("lock")).into_owned()
    }

    /// Every value of header `name` (case-insensitive) in the requests seen so far.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.requests()
            .split("\r\n")
            .filter(|line| line.to_ascii_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_owned())
            .collect()
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    record: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                record.lock().expect("lock").extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}
