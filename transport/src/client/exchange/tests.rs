//! The exchange against scripted servers over in-memory pipes.

use super::*;
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

const PREFIX: &[u8] = b"POST / HTTP/1.1\r\nhost: el:8551\r\n";

/// Runs one exchange against a server that reads the whole request (head and `Content-Length`
/// body), then writes `reply` in pieces of `piece` bytes and, when `close`, hangs up. Returns
/// the result and the request the server saw.
async fn run(
    body: &[u8],
    reply: &[u8],
    piece: usize,
    close: bool,
    max: usize,
) -> (Result<Response, ExchangeError>, Vec<u8>) {
    let (mut client, server) = duplex(1 << 20);
    let reply = reply.to_vec();
    let server = tokio::spawn(async move { serve_once(server, reply, piece, close).await });
    let mut bufs = Buffers::default();
    let result = exchange(&mut client, &mut bufs, PREFIX, Some(b"Bearer t"), body, max).await;
    drop(client);
    (result, server.await.expect("server task"))
}

async fn serve_once(mut s: DuplexStream, reply: Vec<u8>, piece: usize, close: bool) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&seen[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length sent");
            if seen.len() >= end + 4 + len {
                break;
            }
        }
        let n = s.read(&mut chunk).await.expect("read");
        if n == 0 {
            return seen;
        }
        seen.extend_from_slice(&chunk[..n]);
    }
    for part in reply.chunks(piece.max(1)) {
        if s.write_all(part).await.is_err() {
            return seen;
        }
    }
    if !close {
        // Keep the connection open until the client is done with it.
        let _ = s.read(&mut chunk).await;
    }
    seen
}

fn ok(r: Result<Response, ExchangeError>) -> Response {
    r.unwrap_or_else(|e| panic!("expected a response, got {e}"))
}

/// Runs `reply` (in pieces of `piece` bytes, the server hanging up after it) and returns why
/// it was refused as broken; any other outcome fails the test.
async fn broken(reply: &[u8], piece: usize) -> String {
    match run(b"{}", reply, piece, true, 100).await.0 {
        Err(ExchangeError::Broken(why)) => why,
        other => panic!("{}: {other:?}", String::from_utf8_lossy(reply)),
    }
}

#[tokio::test]
async fn writes_the_head_and_reads_a_content_length_body() {
    let (r, seen) = run(
        b"{\"a\":1}",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello",
        1,
        false,
        100,
    )
    .await;
    let r = ok(r);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"hello");
    assert!(r.reusable);
    assert_eq!(r.encoding, None);
    assert_eq!(
        seen,
        b"POST / HTTP/1.1\r\nhost: el:8551\r\nauthorization: Bearer t\r\ncontent-length: 7\r\n\r\n{\"a\":1}"
    );
}

#[tokio::test]
async fn a_large_body_arrives_whole() {
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (r, seen) = run(
        &body,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        7,
        false,
        100,
    )
    .await;
    assert_eq!(&ok(r).body[..], b"ok");
    let end = seen
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    assert!(String::from_utf8_lossy(&seen[..end]).contains("content-length: 300000\r\n"));
    assert_eq!(&seen[end..], &body[..]);
}

#[tokio::test]
async fn reads_chunked_bodies_with_extensions_and_trailers_byte_by_byte() {
    let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;x=y\r\nhello\r\nA\r\n, chunked!\r\n0\r\nX-Trailer: 1\r\n\r\n";
    for piece in [1, 3, 1000] {
        let r = ok(run(b"{}", reply, piece, false, 100).await.0);
        assert_eq!(&r.body[..], b"hello, chunked!");
        assert!(r.reusable, "piece {piece}");
    }
}

#[tokio::test]
async fn skips_informational_answers() {
    let reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let r = ok(run(b"{}", reply, 4, false, 100).await.0);
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"ok"[..]));
    let (r, _) = run(b"{}", b"HTTP/1.1 101 Switching\r\n\r\n", 100, true, 100).await;
    assert!(matches!(r, Err(ExchangeError::Broken(_))), "{r:?}");
}

#[tokio::test]
async fn says_when_the_connection_cannot_be_reused() {
    let cases: [(&[u8], bool); 6] = [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            false,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok",
            true,
        ),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false),
        (
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\n\r\nok",
            true,
        ),
        // Bytes after the body: the server is out of step.
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1",
            false,
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", true),
    ];
    for (reply, reusable) in cases {
        let r = ok(run(b"{}", reply, 100, false, 100).await.0);
        assert_eq!(r.reusable, reusable, "{}", String::from_utf8_lossy(reply));
    }
}

#[tokio::test]
async fn a_body_without_framing_ends_with_the_connection() {
    let r = ok(
        run(b"{}", b"HTTP/1.1 200 OK\r\n\r\nuntil the end", 3, true, 100)
            .await
            .0,
    );
    assert_eq!(&r.body[..], b"until the end");
    assert!(!r.reusable);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_however_framed() {
    let cases: [&[u8]; 3] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello,\r\n6\r\n world\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nhello, world",
    ];
    for reply in cases {
        let (r, _) = run(b"{}", reply, 100, true, 10).await;
        assert!(
            matches!(r, Err(ExchangeError::TooLarge(10))),
            "{}: {r:?}",
            String::from_utf8_lossy(reply)
        );
    }
}

#[tokio::test]
async fn reports_an_encoding_that_was_not_asked_for() {
    let reply = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nok";
    let r = ok(run(b"{}", reply, 100, false, 100).await.0);
    assert_eq!(r.encoding.as_deref(), Some("gzip"));
    let reply = b"HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(
        ok(run(b"{}", reply, 100, false, 100).await.0).encoding,
        None
    );
}

#[tokio::test]
async fn a_hang_up_before_any_answer_is_closed_early_and_later_ones_are_broken() {
    let (r, _) = run(b"{}", b"", 1, true, 100).await;
    assert!(matches!(r, Err(ExchangeError::ClosedEarly)), "{r:?}");
    for reply in [
        &b"HTTP/1.1 200 O"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    ] {
        broken(reply, 2).await;
    }
}

#[tokio::test]
async fn refuses_ambiguous_or_malformed_heads() {
    for reply in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk",
        b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"NOT HTTP\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n",
    ] {
        broken(reply, 100).await;
    }
}

#[tokio::test]
async fn more_headers_than_the_limit_are_refused() {
    let mut reply = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..MAX_HEADERS {
        reply.extend_from_slice(format!("X-{i}: a\r\n").as_bytes());
    }
    reply.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    assert!(broken(&reply, 4096).await.contains("too many headers"));
}

#[tokio::test]
async fn a_head_that_never_ends_is_cut_off() {
    // One header whose value runs past the limit: few headers, so only the length can stop it.
    let mut reply = b"HTTP/1.1 200 OK\r\nX-Padding: ".to_vec();
    reply.resize(MAX_HEAD + 4096, b'a');
    let why = broken(&reply, 4096).await;
    assert!(why.contains("too long"), "{why}");
}

#[tokio::test]
async fn an_idle_connection_is_open_until_the_peer_hangs_up_or_talks() {
    let (mut client, mut server) = duplex(64);
    assert!(idle_and_open(&mut client));
    server.write_all(b"x").await.expect("write");
    assert!(!idle_and_open(&mut client), "unasked-for bytes");
    let (mut client, server) = duplex(64);
    drop(server);
    assert!(!idle_and_open(&mut client), "closed");
}

#[test]
fn decimal() {
    for n in [0, 7, 10, 99, 4_194_304, usize::MAX] {
        assert_eq!(itoa(n, &mut [0; 20]), n.to_string().as_bytes());
    }
}

#[tokio::test]
async fn an_answer_given_before_the_whole_body_was_taken_is_read() {
    let (mut client, mut server) = duplex(1024);
    let server = tokio::spawn(async move {
        let mut head = [0u8; 256];
        let _ = server.read(&mut head).await;
        let _ = server
            .write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n\r\nbig")
            .await;
        // Hang up without reading the rest of the body.
    });
    let body = vec![b'x'; 1 << 20];
    let mut bufs = Buffers::default();
    let r = exchange(&mut client, &mut bufs, PREFIX, None, &body, 100).await;
    server.await.expect("server task");
    let r = ok(r);
    assert_eq!((r.status.as_u16(), &r.body[..]), (413, &b"big"[..]));
    assert!(!r.reusable);
}

mod generated {
    //! Answers built at random, well formed or broken, arriving in random pieces.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Framing {
        Length,
        Chunked(Vec<usize>),
        Close,
    }

    fn framing() -> impl Strategy<Value = Framing> {
        prop_oneof![
            Just(Framing::Length),
            proptest::collection::vec(1usize..40, 0..6).prop_map(Framing::Chunked),
            Just(Framing::Close),
        ]
    }

    fn encode(body: &[u8], framing: &Framing) -> Vec<u8> {
        let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n".to_vec();
        match framing {
            Framing::Length => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                out.extend_from_slice(body);
            }
            Framing::Chunked(sizes) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let mut rest = body;
                for size in sizes
                    .iter()
                    .cycle()
                    .take(if sizes.is_empty() { 0 } else { 10_000 })
                {
                    if rest.is_empty() {
                        break;
                    }
                    let n = (*size).min(rest.len());
                    out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                    out.extend_from_slice(&rest[..n]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                if !rest.is_empty() {
                    out.extend_from_slice(format!("{:X}\r\n", rest.len()).as_bytes());
                    out.extend_from_slice(rest);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            Framing::Close => {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(body);
            }
        }
        out
    }

    fn exchange_with(reply: Vec<u8>, piece: usize, max: usize) -> Result<Response, ExchangeError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async move { run(b"{}", &reply, piece, true, max).await.0 })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]

        #[test]
        fn well_formed_answers_come_back_whole(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            framing in framing(),
            piece in 1usize..64,
        ) {
            let r = exchange_with(encode(&body, &framing), piece, 1000);
            let r = r.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&r.body[..], &body[..]);
            prop_assert_eq!(r.reusable, !matches!(framing, Framing::Close));
        }

        #[test]
        fn broken_answers_never_panic_or_pass_the_limit(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            framing in framing(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
            piece in 1usize..64,
            max in 0usize..400,
        ) {
            let mut reply = encode(&body, &framing);
            for (at, byte) in flips {
                let i = at.index(reply.len());
                reply[i] = byte;
            }
            reply.truncate(cut.index(reply.len() + 1));
            if let Ok(r) = exchange_with(reply, piece, max) {
                prop_assert!(r.body.len() <= max, "{} > {max}", r.body.len());
            }
        }
    }
}

#[tokio::test]
async fn a_large_answer_leaves_no_large_buffer_on_the_connection() {
    let big = vec![b'x'; 1 << 20];
    let mut reply =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", big.len()).into_bytes();
    reply.extend_from_slice(&big);
    let (mut client, server) = duplex(1 << 16);
    let server = tokio::spawn(serve_once(server, reply, 1 << 16, false));
    let mut bufs = Buffers::default();
    let r = ok(exchange(&mut client, &mut bufs, PREFIX, None, b"{}", 2 << 20).await);
    assert_eq!(r.body.len(), big.len());
    assert!(r.reusable);
    assert!(
        bufs.read.capacity() <= KEEP_READ,
        "{} bytes kept",
        bufs.read.capacity()
    );
    drop(client);
    server.await.expect("server task");
}

#[tokio::test]
async fn write_both_delivers_both_whole_through_short_writes() {
    let (mut near, mut far) = duplex(7);
    let body = vec![b'x'; 100];
    let reader = tokio::spawn(async move {
        let mut all = Vec::new();
        far.read_to_end(&mut all).await.expect("read");
        all
    });
    write_both(&mut near, b"head\r\n\r\n", &body)
        .await
        .expect("write");
    drop(near);
    let all = reader.await.expect("join");
    assert_eq!(&all[..8], b"head\r\n\r\n");
    assert_eq!(&all[8..], &body[..]);
}
