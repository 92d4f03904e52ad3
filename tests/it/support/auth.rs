//! Every secret and token the tests use, in one place: the JWT secrets (as values and as
//! `jwt.hex` files), the consensus client's tokens and the REST API's.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use eb_transport::jwt::{self, Claims};
use eb_transport::{JwtSecret, SystemClock, WallClock};

/// The secret the mock ELs and the consensus client share unless a test says otherwise.
pub const SECRET: [u8; 32] = [0x5a; 32];
/// The REST API's secret (`--admin-jwt-secret`): no EL holds it.
pub const ADMIN_SECRET: [u8; 32] = [0xad; 32];

/// A secret made of one repeated byte: easy to tell apart in failures.
pub fn secret(byte: u8) -> JwtSecret {
    JwtSecret::from_bytes([byte; 32])
}

/// [`SECRET`] as a value.
pub fn shared_secret() -> JwtSecret {
    JwtSecret::from_bytes(SECRET)
}

/// [`ADMIN_SECRET`] as a value.
pub fn admin_secret() -> JwtSecret {
    JwtSecret::from_bytes(ADMIN_SECRET)
}

/// Random bytes (each EthereumJS instance gets its own).
pub fn random_secret() -> JwtSecret {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::thread_rng(), &mut bytes);
    JwtSecret::from_bytes(bytes)
}

pub fn now() -> u64 {
    SystemClock.unix_seconds()
}

/// A CL token with `iat` = now and the optional `id` / `clv` claims.
pub fn cl_token(secret: &JwtSecret, id: Option<&str>, clv: Option<&str>) -> String {
    jwt::sign(
        secret,
        &Claims {
            iat: now(),
            id: id.map(str::to_owned),
            clv: clv.map(str::to_owned),
        },
    )
}

/// A plain token (`iat` = now) signed with `secret`.
pub fn token_for(secret: &JwtSecret) -> String {
    cl_token(secret, None, None)
}

/// A token signed with [`SECRET`].
pub fn token() -> String {
    token_for(&shared_secret())
}

/// A token for the REST API's changing calls.
pub fn admin_token() -> String {
    token_for(&admin_secret())
}

/// base64url without padding (enough to hand-craft tokens the signing API refuses to make).
pub fn b64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(ALPHABET[idx as usize] as char);
        }
    }
    out
}

/// Writes `secret` to `path` in the usual `jwt.hex` form (`0x`-prefixed, trailing newline, as
/// consensus clients write them), readable by its owner only.
pub fn write_secret_file(path: &Path, secret: &JwtSecret) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("secret file {}: {e}", path.display()));
    file.write_all(format!("0x{}\n", secret.to_hex()).as_bytes())
        .expect("write secret");
}

/// Writes `bytes` as the secret file `name` in `dir` (created if missing); returns its path.
pub fn write_secret(dir: &Path, name: &str, bytes: &[u8; 32]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("tmp dir");
    let path = dir.join(name);
    write_secret_file(&path, &JwtSecret::from_bytes(*bytes));
    path
}

static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A secret written to a file of its own under the system temp dir; removed on drop.
pub struct SecretFile {
    pub path: PathBuf,
}

impl SecretFile {
    pub fn new(secret: &JwtSecret) -> Self {
        let n = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("executionbackup-it-{}-{n}.hex", std::process::id()));
        write_secret_file(&path, secret);
        Self { path }
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
