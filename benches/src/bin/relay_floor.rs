//! The floor under any multiplexer on this machine: a relay that does nothing but move bytes.
//!
//! It takes the command line the harness gives a proxy (`--nodes URL,… --jwt-secret FILE
//! --port P`), and for every HTTP/1.1 request from the consensus client sends the same head and
//! body to every node, waits for all of their answers and returns the first node's. It checks
//! nothing (no token, no JSON, no vote), so it is not a proxy anyone should run; measured with
//! `bench --proxy-cmd target/release/relay_floor`, its "own share" is what the two loopback
//! hops and the copies cost on this machine, below which no multiplexer can go.
//!
//! `--mode store` receives the whole body before sending it on (store and forward, as the
//! proxy does); `--mode cut` (the default) sends each piece on as it arrives (cut-through).

use std::net::SocketAddr;

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use futures_util::future::try_join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Parser)]
struct Args {
    #[arg(long, value_delimiter = ',')]
    nodes: Vec<String>,
    #[arg(long)]
    jwt_secret: Option<String>,
    #[arg(long)]
    port: u16,
    #[arg(long, default_value = "cut")]
    mode: Mode,
    /// Accepted and ignored (the harness passes it to executionbackup).
    #[arg(long)]
    metrics_addr: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum, PartialEq)]
enum Mode {
    Cut,
    Store,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let nodes: Vec<SocketAddr> = args
        .nodes
        .iter()
        .map(|url| {
            let host = url
                .trim_start_matches("http://")
                .split(['/', '#'])
                .next()
                .unwrap_or_default();
            host.parse::<SocketAddr>()
                .with_context(|| format!("node {url}: only http://IP:PORT"))
        })
        .collect::<anyhow::Result<_>>()?;
    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    loop {
        let (cl, _) = listener.accept().await?;
        let nodes = nodes.clone();
        let mode = args.mode;
        tokio::spawn(async move {
            if let Err(e) = relay(cl, &nodes, mode).await {
                eprintln!("relay_floor: connection ended: {e:#}");
            }
        });
    }
}

/// One HTTP/1.1 message read off a stream: its head, and how many body bytes follow.
struct Head {
    bytes: Vec<u8>,
    body_len: usize,
    /// Body bytes read together with the head.
    extra: Vec<u8>,
}

async fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    request: bool,
) -> anyhow::Result<Option<Head>> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let parsed = if request {
            httparse::Request::new(&mut headers).parse(buf)?
        } else {
            httparse::Response::new(&mut headers).parse(buf)?
        };
        if let httparse::Status::Complete(n) = parsed {
            let body_len = headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| {
                    std::str::from_utf8(h.value)
                        .unwrap_or("0")
                        .trim()
                        .parse::<usize>()
                })
                .transpose()?
                .unwrap_or(0);
            let extra = buf.split_off(n);
            let head = std::mem::take(buf);
            return Ok(Some(Head {
                bytes: head,
                body_len,
                extra,
            }));
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            bail!("closed inside a head");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn relay(mut cl: TcpStream, nodes: &[SocketAddr], mode: Mode) -> anyhow::Result<()> {
    cl.set_nodelay(true)?;
    let mut els = Vec::new();
    for node in nodes {
        let el = TcpStream::connect(node).await?;
        el.set_nodelay(true)?;
        els.push(el);
    }
    let mut cl_buf = Vec::new();
    while let Some(head) = read_head(&mut cl, &mut cl_buf, true).await? {
        if head.extra.len() > head.body_len {
            bail!("pipelined requests are not relayed");
        }
        let mut left = head.body_len - head.extra.len();
        match mode {
            Mode::Cut => {
                let mut first = head.bytes;
                first.extend_from_slice(&head.extra);
                send_all(&mut els, &first).await?;
                let mut chunk = vec![0u8; 256 * 1024];
                while left > 0 {
                    let want = left.min(chunk.len());
                    let n = cl.read(&mut chunk[..want]).await?;
                    if n == 0 {
                        bail!("the client closed inside a body");
                    }
                    send_all(&mut els, &chunk[..n]).await?;
                    left -= n;
                }
            }
            Mode::Store => {
                let mut whole = head.bytes;
                let start = whole.len();
                whole.reserve(head.body_len);
                whole.extend_from_slice(&head.extra);
                whole.resize(start + head.body_len, 0);
                cl.read_exact(&mut whole[start + head.extra.len()..])
                    .await?;
                send_all(&mut els, &whole).await?;
            }
        }
        let answers = try_join_all(els.iter_mut().map(read_response)).await?;
        let first = answers
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("no nodes"))?;
        cl.write_all(&first).await?;
    }
    Ok(())
}

async fn send_all(els: &mut [TcpStream], bytes: &[u8]) -> anyhow::Result<()> {
    try_join_all(els.iter_mut().map(|el| el.write_all(bytes))).await?;
    Ok(())
}

/// One whole response (head and Content-Length body) from an EL.
async fn read_response(el: &mut TcpStream) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let head = read_head(el, &mut buf, false)
        .await?
        .ok_or_else(|| anyhow!("the node closed"))?;
    let mut whole = head.bytes;
    whole.extend_from_slice(&head.extra);
    let start = whole.len();
    let missing = head.body_len.saturating_sub(head.extra.len());
    whole.resize(start + missing, 0);
    el.read_exact(&mut whole[start..]).await?;
    Ok(whole)
}
