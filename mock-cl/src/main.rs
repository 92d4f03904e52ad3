//! `mock-cl`: produce blocks through an Engine API endpoint the way a consensus client does.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use eb_transport::{JwtSecret, SystemClock, TokioNet};
use mock_cl::{Driver, DriverConfig, Fees, RpcClient, Wallet, DEV_KEY};
use serde_json::json;

/// A consensus-client stand-in: every slot, engine_forkchoiceUpdatedV3 with payload attributes,
/// engine_getPayloadV3, engine_newPayloadV3 and engine_forkchoiceUpdatedV3 on the new head
/// (Cancun), then eth_* reads. Prints blocks produced, statuses seen and latencies.
///
/// With --tx-rpc, signs EIP-1559 transfers from --tx-key and sends them to that (non-engine)
/// JSON-RPC endpoint before every slot, so the blocks carry transactions.
#[derive(Debug, Parser)]
#[command(name = "mock-cl", version)]
struct Args {
    /// Engine API endpoint (an EL's auth port, or executionbackup).
    #[arg(long, env = "MOCK_CL_ENGINE", default_value = "http://127.0.0.1:8551")]
    engine: String,
    /// Hex JWT secret file the engine endpoint checks.
    #[arg(long, env = "MOCK_CL_JWT_SECRET")]
    jwt_secret: PathBuf,
    /// How many slots to run.
    #[arg(long, env = "MOCK_CL_SLOTS", default_value_t = 20)]
    slots: u64,
    /// Slot length in milliseconds.
    #[arg(long, env = "MOCK_CL_SLOT_MS", default_value_t = 1000)]
    slot_ms: u64,
    /// suggestedFeeRecipient.
    #[arg(
        long,
        env = "MOCK_CL_FEE_RECIPIENT",
        default_value = "0x000000000000000000000000000000000000fee0"
    )]
    fee_recipient: String,
    /// Skip the eth_* reads between slots.
    #[arg(long)]
    no_reads: bool,
    /// Plain JSON-RPC endpoint (an EL's --rpcPort) to send transactions to.
    #[arg(long, env = "MOCK_CL_TX_RPC")]
    tx_rpc: Option<String>,
    /// Private key of the sending account (default: the dev account funded in
    /// genesis-cancun.json).
    #[arg(long, env = "MOCK_CL_TX_KEY", default_value = DEV_KEY)]
    tx_key: String,
    /// Transactions sent before each slot.
    #[arg(long, env = "MOCK_CL_TXS_PER_SLOT", default_value_t = 2)]
    txs_per_slot: u64,
    /// Per-call timeout in milliseconds.
    #[arg(long, env = "MOCK_CL_TIMEOUT_MS", default_value_t = 8000)]
    timeout_ms: u64,
    /// Speak Amsterdam: forkchoiceUpdatedV4, getPayloadV6, newPayloadV5.
    #[arg(long, env = "MOCK_CL_AMSTERDAM")]
    amsterdam: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let secret = JwtSecret::from_file(&args.jwt_secret)
        .with_context(|| format!("--jwt-secret {}", args.jwt_secret.display()))?;
    let clock = Arc::new(SystemClock);
    let engine = RpcClient::new(TokioNet, &args.engine, Some(secret), clock.clone())
        .context("--engine")?
        .with_timeout(Duration::from_millis(args.timeout_ms));
    let config = DriverConfig {
        fee_recipient: args.fee_recipient.clone(),
        reads: !args.no_reads,
        seed: 0,
        amsterdam: args.amsterdam,
    };
    let mut driver = Driver::new(engine, clock.clone(), config)
        .await
        .context("reading the head")?;
    println!(
        "mock-cl: starting on block {} {} through {}",
        driver.head().number,
        driver.head().hash,
        args.engine
    );

    let mut sender = match &args.tx_rpc {
        Some(url) => {
            let rpc = RpcClient::new(TokioNet, url, None, clock.clone()).context("--tx-rpc")?;
            let chain_id = rpc.call("eth_chainId", json!([])).await?;
            let chain_id = u64::from_str_radix(
                chain_id.as_str().unwrap_or("0x0").trim_start_matches("0x"),
                16,
            )?;
            let mut wallet =
                Wallet::from_hex(&args.tx_key, chain_id).map_err(anyhow::Error::msg)?;
            let nonce = rpc
                .call(
                    "eth_getTransactionCount",
                    json!([wallet.address_hex(), "latest"]),
                )
                .await?;
            wallet.nonce =
                u64::from_str_radix(nonce.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16)?;
            Some((rpc, wallet))
        }
        None => None,
    };

    let mut ticks = tokio::time::interval(Duration::from_millis(args.slot_ms.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = 0u64;
    for _ in 0..args.slots {
        ticks.tick().await;
        if let Some((rpc, wallet)) = &mut sender {
            for _ in 0..args.txs_per_slot {
                let tx = wallet.transfer([0x11; 20], 1, Fees::default());
                match rpc
                    .call("eth_sendRawTransaction", json!([tx.raw_hex()]))
                    .await
                {
                    Ok(_) => sent += 1,
                    Err(e) => {
                        eprintln!("mock-cl: transaction {} refused: {e}", tx.nonce);
                        // Start again from the account's nonce as the EL sees it.
                        wallet.nonce = tx.nonce;
                        if let Ok(n) = rpc
                            .call(
                                "eth_getTransactionCount",
                                json!([wallet.address_hex(), "latest"]),
                            )
                            .await
                        {
                            wallet.nonce = u64::from_str_radix(
                                n.as_str().unwrap_or("0x0").trim_start_matches("0x"),
                                16,
                            )
                            .unwrap_or(tx.nonce);
                        }
                        break;
                    }
                }
            }
        }
        match driver.slot().await {
            Ok(block) => println!(
                "slot {}: block {} {} with {} transactions",
                block.built.slot,
                block.built.number,
                block.built.block_hash,
                block.built.transactions
            ),
            Err(e) => println!("slot {}: missed: {e}", driver.stats.slots),
        }
    }
    if sender.is_some() {
        println!("transactions sent: {sent}");
    }
    print!("{}", driver.stats.summary());
    if driver.stats.produced == 0 {
        anyhow::bail!("no block produced");
    }
    Ok(())
}
