//! `--dev`: a first run with nothing else installed.
//!
//! Starts three in-process mock execution clients (two VALID, one switchable through its control
//! API), writes a fresh JWT secret and a fresh admin secret (for the REST API's changing calls)
//! to a temporary folder, and runs the proxy in front of them.
//!
//! The mock ELs are linked only with the `dev` cargo feature (on by default; the packaged builds
//! leave it out): [`ENABLED`] says whether this binary has them, and without them `--dev` exits
//! with status 2 and [`NOT_BUILT`]. [`fresh_token`] (`--print-token`) is there either way.

use std::time::{SystemTime, UNIX_EPOCH};

use eb_transport::jwt::{self, Claims};
use eb_transport::JwtSecret;

#[cfg(feature = "dev")]
mod embedded;

#[cfg(feature = "dev")]
pub use embedded::{banner, run, start_nodes, DevError, DevNodes};

/// Whether this binary was built with `--dev` (the `dev` cargo feature).
pub const ENABLED: bool = cfg!(feature = "dev");

/// What `--dev` says when the binary was built without it.
pub const NOT_BUILT: &str = "--dev is not built into this binary (the packaged builds leave it \
     out); build with the dev cargo feature: cargo run --release --features dev -- --dev";

/// A token for the CL side (or, with the admin secret, for the REST API), valid for about a
/// minute.
pub fn fresh_token(secret: &JwtSecret) -> String {
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    jwt::sign(
        secret,
        &Claims {
            iat,
            ..Claims::default()
        },
    )
}
