//! Large request bodies: the proxy gathers a large newPayload into a buffer it reuses from one
//! call to the next. Whatever buffer a body lands in, every EL must get that body byte for
//! byte, with nothing of an earlier, larger body left in it.

use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::shapes::new_payload_params;
use serde_json::{json, Value};

/// newPayloadV3 params for block `n` whose transactions come to about `kib` KiB, each byte a
/// function of the block and its position, so no two bodies share their contents.
fn params_of_size(n: u64, kib: usize) -> Value {
    let mut params = new_payload_params(n);
    let txs: Vec<Value> = (0..kib / 32)
        .map(|i| {
            let fill = format!("{:02x}", (n as usize * 31 + i * 7) % 251);
            json!(format!("0x02{}", fill.repeat(16 * 1024 - 1)))
        })
        .collect();
    params[0]["transactions"] = Value::Array(txs);
    params
}

#[tokio::test]
async fn every_large_body_reaches_every_el_whole() {
    let els = vec![
        mock("el1", 1, |b| b.record_params(true)).await,
        mock("el2", 2, |b| b.record_params(true)).await,
        mock("el3", 3, |b| b.record_params(true)).await,
    ];
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    // Larger and smaller in turn: a smaller body goes into the buffer a larger one left, and
    // bodies outlive their call in the keep-warm store until it is full.
    let sizes_kib = [2048usize, 1536, 2304, 1200, 2560, 1024, 2048, 1900];
    for (i, &kib) in sizes_kib.iter().enumerate() {
        let n = i as u64 + 1;
        let params = params_of_size(n, kib);
        let body =
            json!({"jsonrpc": "2.0", "id": n, "method": "engine_newPayloadV3", "params": params})
                .to_string();
        assert!(
            body.len() > kib * 1000,
            "body of block {n} is {} bytes",
            body.len()
        );
        let reply = cl.post_raw(body).await;
        assert_eq!(reply.status, 200, "block {n}: {}", reply.text());
        assert_eq!(status_of(&reply.json()), "VALID", "block {n}");
        let all_in = eventually(Duration::from_secs(10), async || {
            els.iter()
                .all(|el| el.calls_to("engine_newPayloadV3").len() == i + 1)
        })
        .await;
        assert!(all_in, "every EL answered block {n}");
        for el in &els {
            let calls = el.arrivals_to("engine_newPayloadV3");
            let got = calls[i].params.as_deref().expect("params recorded");
            let got: Value = serde_json::from_str(got).expect("the EL got JSON");
            assert!(
                got == params,
                "{} got another body for block {n}",
                el.name()
            );
        }
    }
}
