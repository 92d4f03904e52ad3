//! Engine API JWT: HS256 over a 32-byte shared secret.
//!
//! The proxy is a JWT *server* towards the consensus client ([`verify`]) and a JWT *client*
//! towards every execution client ([`TokenCache`], one per secret). The rules follow the Engine
//! API authentication spec: only HS256 (so `alg: none` and every other algorithm is refused),
//! `iat` required and within ±[`MAX_IAT_SKEW_SECS`] of now, `exp` honoured when present, unknown
//! claims ignored.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::clock::WallClock;

type HmacSha256 = Hmac<Sha256>;

/// How far `iat` may be from the verifier's clock, either way.
pub const MAX_IAT_SKEW_SECS: u64 = 60;

/// How long a signed outgoing token is reused. Far inside the ±60 s window, so clock skew of
/// up to ~50 s between this host and an EL still passes.
pub const TOKEN_REUSE_SECS: u64 = 5;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("cannot read JWT secret file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("JWT secret{origin} is not hex (64 hex digits, optional 0x)")]
    NotHex { origin: String },
    #[error("JWT secret{origin} is {len} bytes, it must be exactly 32 (64 hex digits)")]
    WrongLength { origin: String, len: usize },
    #[error("missing Authorization header")]
    MissingHeader,
    #[error("Authorization header is not a Bearer token")]
    NotBearer,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported JWT algorithm {0:?}, only HS256 is accepted")]
    Algorithm(String),
    #[error("bad token signature")]
    Signature,
    #[error("token has no iat claim")]
    MissingIat,
    #[error("token iat {iat} is more than {MAX_IAT_SKEW_SECS} s from now ({now})")]
    Stale { iat: u64, now: u64 },
    #[error("token expired at {exp} (now {now})")]
    Expired { exp: u64, now: u64 },
}

/// A 256-bit shared secret. `Debug` never shows the bytes. The HMAC is keyed once, at creation,
/// and cloned per token (keying costs two SHA-256 blocks).
#[derive(Clone)]
pub struct JwtSecret {
    bytes: [u8; 32],
    keyed: HmacSha256,
}

impl PartialEq for JwtSecret {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for JwtSecret {}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

impl JwtSecret {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail for 32 bytes.
        let keyed = <HmacSha256 as Mac>::new_from_slice(&bytes).expect("HMAC takes any key length");
        Self { bytes, keyed }
    }

    /// Parses the usual `jwt.hex` content: 64 hex digits, optional `0x`, surrounding white space
    /// (a trailing newline) ignored.
    pub fn from_hex(text: &str) -> Result<Self, JwtError> {
        Self::parse(text, String::new())
    }

    /// Reads and parses a secret file. Errors name the path but never echo the file's content.
    pub fn from_file(path: &Path) -> Result<Self, JwtError> {
        let text = std::fs::read_to_string(path).map_err(|e| JwtError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, format!(" in {}", path.display()))
    }

    fn parse(text: &str, origin: String) -> Result<Self, JwtError> {
        let trimmed = text.trim();
        let digits = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .unwrap_or(trimmed);
        // The error deliberately says nothing about the content: the file may be anything.
        let bytes = hex::decode(digits).map_err(|_| JwtError::NotHex {
            origin: origin.clone(),
        })?;
        let len = bytes.len();
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| JwtError::WrongLength { origin, len })?;
        Ok(Self::from_bytes(array))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }
}

/// Claims the proxy reads from or writes into a token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    pub iat: u64,
    /// Identifies the CL instance (optional).
    pub id: Option<String>,
    /// CL type and version (optional).
    pub clv: Option<String>,
}

const HEADER_HS256: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; // {"alg":"HS256","typ":"JWT"}

/// Signs `claims` with `secret` (HS256).
pub fn sign(secret: &JwtSecret, claims: &Claims) -> String {
    let mut payload = serde_json::Map::new();
    payload.insert("iat".into(), claims.iat.into());
    if let Some(id) = &claims.id {
        payload.insert("id".into(), id.clone().into());
    }
    if let Some(clv) = &claims.clv {
        payload.insert("clv".into(), clv.clone().into());
    }
    let payload = serde_json::Value::Object(payload).to_string();
    let mut token = String::with_capacity(128);
    token.push_str(HEADER_HS256);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload.as_bytes(), &mut token);
    let mut mac = secret.mac();
    mac.update(token.as_bytes());
    let signature = mac.finalize().into_bytes();
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    token
}

/// Extracts the token from an `Authorization` header value.
pub fn bearer_token(header: Option<&[u8]>) -> Result<&str, JwtError> {
    let value = header.ok_or(JwtError::MissingHeader)?;
    let value = std::str::from_utf8(value).map_err(|_| JwtError::NotBearer)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(JwtError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(JwtError::NotBearer);
    }
    Ok(token.trim())
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct Payload {
    iat: Option<serde_json::Number>,
    exp: Option<serde_json::Number>,
    id: Option<serde_json::Value>,
    clv: Option<serde_json::Value>,
}

/// Verifies an HS256 token against `secret` at wall-clock time `now` (Unix seconds).
pub fn verify(secret: &JwtSecret, token: &str, now: u64) -> Result<Claims, JwtError> {
    verify_with_exp(secret, token, now).map(|(claims, _)| claims)
}

fn verify_with_exp(
    secret: &JwtSecret,
    token: &str,
    now: u64,
) -> Result<(Claims, Option<u64>), JwtError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("a JWT has three dot-separated parts"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| JwtError::Malformed("header is not base64url"))?;
    let header: Header =
        serde_json::from_slice(&header).map_err(|_| JwtError::Malformed("header is not JSON"))?;
    if header.alg != "HS256" {
        return Err(JwtError::Algorithm(header.alg));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| JwtError::Malformed("signature is not base64url"))?;
    let mut mac = secret.mac();
    mac.update(header_b64.as_bytes());
    mac.update(b".");
    mac.update(payload_b64.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| JwtError::Signature)?;

    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| JwtError::Malformed("payload is not base64url"))?;
    let payload: Payload = serde_json::from_slice(&payload)
        .map_err(|_| JwtError::Malformed("payload is not a JSON object of claims"))?;
    let iat = payload
        .iat
        .ok_or(JwtError::MissingIat)
        .and_then(|n| seconds(&n).ok_or(JwtError::Malformed("iat is not a number of seconds")))?;
    let exp = payload
        .exp
        .map(|e| seconds(&e).ok_or(JwtError::Malformed("exp is not a number of seconds")))
        .transpose()?;
    check_times(iat, exp, now)?;
    Ok((
        Claims {
            iat,
            id: payload.id.map(claim_text),
            clv: payload.clv.map(claim_text),
        },
        exp,
    ))
}

fn seconds(n: &serde_json::Number) -> Option<u64> {
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64)
            .map(|f| f as u64)
    })
}

fn claim_text(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Verifies incoming tokens, remembering the last one that passed: a consensus client reuses a
/// token for many requests, and the same string is then accepted without another HMAC (its
/// `iat` and `exp` are still checked against the clock every time). The comparison with the
/// remembered token takes the same time whatever the bytes, so it leaks nothing about it.
pub struct Verifier {
    secret: JwtSecret,
    last: Mutex<Option<Verified>>,
}

/// A token that passed, with what its clock checks need.
struct Verified {
    token: Box<str>,
    claims: Claims,
    exp: Option<u64>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new(secret: JwtSecret) -> Self {
        Self {
            secret,
            last: Mutex::new(None),
        }
    }

    pub fn secret(&self) -> &JwtSecret {
        &self.secret
    }

    /// Like [`verify`].
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, JwtError> {
        {
            let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(known) = last.as_ref() {
                if constant_time_eq(known.token.as_bytes(), token.as_bytes()) {
                    check_times(known.claims.iat, known.exp, now)?;
                    return Ok(known.claims.clone());
                }
            }
        }
        let (claims, exp) = verify_with_exp(&self.secret, token, now)?;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Verified {
            token: token.into(),
            claims: claims.clone(),
            exp,
        });
        Ok(claims)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn check_times(iat: u64, exp: Option<u64>, now: u64) -> Result<(), JwtError> {
    if iat.abs_diff(now) > MAX_IAT_SKEW_SECS {
        return Err(JwtError::Stale { iat, now });
    }
    if let Some(exp) = exp {
        if exp <= now {
            return Err(JwtError::Expired { exp, now });
        }
    }
    Ok(())
}

/// Signs outgoing tokens for one secret and reuses each for [`TOKEN_REUSE_SECS`].
///
/// Tokens are minted lazily on the first request after the previous one aged out, so `iat` is
/// always within a few seconds of the send.
pub struct TokenCache {
    secret: JwtSecret,
    current: Mutex<Option<(u64, Arc<str>)>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache").finish_non_exhaustive()
    }
}

impl TokenCache {
    pub fn new(secret: JwtSecret) -> Self {
        Self {
            secret,
            current: Mutex::new(None),
        }
    }

    pub fn secret(&self) -> &JwtSecret {
        &self.secret
    }

    /// The `Authorization` header value (`Bearer …`) to send now.
    pub fn authorization(&self, clock: &dyn WallClock) -> Arc<str> {
        let now = clock.unix_seconds();
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((iat, header)) = current.as_ref() {
            // `now < iat` means the clock stepped back: mint afresh rather than send a token
            // from the future.
            if now >= *iat && now - iat < TOKEN_REUSE_SECS {
                return header.clone();
            }
        }
        let token = sign(
            &self.secret,
            &Claims {
                iat: now,
                ..Claims::default()
            },
        );
        let header: Arc<str> = format!("Bearer {token}").into();
        *current = Some((now, header.clone()));
        header
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header as JwtHeader};

    const NOW: u64 = 1_700_000_000;

    fn secret() -> JwtSecret {
        JwtSecret::from_hex(&"ab".repeat(32)).expect("valid secret")
    }

    fn foreign_token(alg: Algorithm, claims: serde_json::Value, key: &[u8]) -> String {
        encode(
            &JwtHeader::new(alg),
            &claims,
            &EncodingKey::from_secret(key),
        )
        .expect("encode")
    }

    #[test]
    fn secret_file_forms() {
        let hex64 = "0123456789abcdef".repeat(4);
        for text in [
            hex64.clone(),
            format!("0x{hex64}"),
            format!("{hex64}\n"),
            format!("0x{hex64}\r\n"),
            format!("  {}  ", hex64.to_uppercase()),
        ] {
            let s = JwtSecret::from_hex(&text).expect("accepted");
            assert_eq!(s.to_hex(), hex64);
        }
        assert!(matches!(
            JwtSecret::from_hex(&"ab".repeat(31)),
            Err(JwtError::WrongLength { len: 31, .. })
        ));
        assert!(matches!(
            JwtSecret::from_hex(&"ab".repeat(33)),
            Err(JwtError::WrongLength { len: 33, .. })
        ));
        assert!(matches!(
            JwtSecret::from_hex("zz"),
            Err(JwtError::NotHex { .. })
        ));
        assert!(matches!(
            JwtSecret::from_file(Path::new("/nonexistent/jwt.hex")),
            Err(JwtError::Unreadable { .. })
        ));
        assert_eq!(format!("{:?}", secret()), "JwtSecret(<redacted>)");
    }

    #[test]
    fn accepts_tokens_signed_elsewhere_with_extra_claims() {
        let token = foreign_token(
            Algorithm::HS256,
            serde_json::json!({"iat": NOW, "id": "lodestar-1", "clv": "Lodestar/v1.2", "x": [1]}),
            &[0xab; 32],
        );
        let claims = verify(&secret(), &token, NOW).expect("valid");
        assert_eq!(claims.iat, NOW);
        assert_eq!(claims.id.as_deref(), Some("lodestar-1"));
        assert_eq!(claims.clv.as_deref(), Some("Lodestar/v1.2"));
    }

    #[test]
    fn our_tokens_verify_elsewhere() {
        let token = sign(
            &secret(),
            &Claims {
                iat: NOW,
                ..Claims::default()
            },
        );
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(&[0xab; 32]),
            &validation,
        )
        .expect("jsonwebtoken accepts our token");
        assert_eq!(decoded.claims["iat"], NOW);
        assert_eq!(verify(&secret(), &token, NOW).expect("valid").iat, NOW);
    }

    #[test]
    fn iat_window_is_plus_minus_sixty_seconds() {
        for (iat, ok) in [
            (NOW - 59, true),
            (NOW - 60, true),
            (NOW - 61, false),
            (NOW + 59, true),
            (NOW + 60, true),
            (NOW + 61, false),
        ] {
            let token = sign(
                &secret(),
                &Claims {
                    iat,
                    ..Claims::default()
                },
            );
            assert_eq!(
                verify(&secret(), &token, NOW).is_ok(),
                ok,
                "iat offset {}",
                iat as i64 - NOW as i64
            );
        }
        let no_iat = foreign_token(
            Algorithm::HS256,
            serde_json::json!({"id": "x"}),
            &[0xab; 32],
        );
        assert_eq!(verify(&secret(), &no_iat, NOW), Err(JwtError::MissingIat));
        let expired = foreign_token(
            Algorithm::HS256,
            serde_json::json!({"iat": NOW, "exp": NOW - 1}),
            &[0xab; 32],
        );
        assert!(matches!(
            verify(&secret(), &expired, NOW),
            Err(JwtError::Expired { .. })
        ));
    }

    #[test]
    fn refuses_other_algorithms_wrong_keys_and_garbage() {
        let claims = serde_json::json!({"iat": NOW});
        let hs512 = foreign_token(Algorithm::HS512, claims.clone(), &[0xab; 32]);
        assert!(
            matches!(verify(&secret(), &hs512, NOW), Err(JwtError::Algorithm(a)) if a == "HS512")
        );
        let wrong_key = foreign_token(Algorithm::HS256, claims.clone(), &[0xac; 32]);
        assert_eq!(verify(&secret(), &wrong_key, NOW), Err(JwtError::Signature));
        // alg: none, with and without a signature part.
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        for token in [
            format!("{none_header}.{payload}."),
            format!("{none_header}.{payload}"),
        ] {
            assert!(verify(&secret(), &token, NOW).is_err(), "{token}");
        }
        // Tampered payload with the original signature.
        let good = sign(
            &secret(),
            &Claims {
                iat: NOW,
                ..Claims::default()
            },
        );
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(serde_json::json!({"iat": NOW + 1}).to_string());
        parts[1] = &forged;
        assert_eq!(
            verify(&secret(), &parts.join("."), NOW),
            Err(JwtError::Signature)
        );
        for junk in ["", ".", "..", "a.b.c", "a.b.c.d", "\u{0}"] {
            assert!(verify(&secret(), junk, NOW).is_err(), "{junk:?}");
        }
    }

    /// Found by the `jwt_verify` fuzz target: a correctly signed token whose header holds bytes
    /// that are not UTF-8. Members other than `alg` are not read, so such a header passes when
    /// `alg` is exactly HS256, and never otherwise.
    #[test]
    fn header_bytes_outside_utf8_never_change_the_algorithm() {
        let signed = |header: &[u8]| {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(format!(r#"{{"iat":{NOW}}}"#))
            );
            let mut mac = secret().mac();
            mac.update(input.as_bytes());
            format!(
                "{input}.{}",
                URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            )
        };
        assert!(verify(
            &secret(),
            &signed(b"{\"alg\":\"HS256\",\"typ\":\"JW\x99T\"}"),
            NOW
        )
        .is_ok());
        for header in [
            &b"{\"alg\":\"HS2\x9956\"}"[..],
            b"{\"alg\":\"none\",\"typ\":\"\xff\"}",
            b"{\"typ\":\"\xff\"}",
            b"{\"alg\":\"HS256\"\xff}",
        ] {
            assert!(
                verify(&secret(), &signed(header), NOW).is_err(),
                "{}",
                String::from_utf8_lossy(header)
            );
        }
    }

    #[test]
    fn verifier_remembers_the_last_token_but_checks_its_age() {
        let v = Verifier::new(secret());
        let token = sign(
            &secret(),
            &Claims {
                iat: NOW,
                ..Claims::default()
            },
        );
        assert_eq!(v.verify(&token, NOW).expect("valid").iat, NOW);
        assert_eq!(v.verify(&token, NOW + 60).expect("still valid").iat, NOW);
        assert!(matches!(
            v.verify(&token, NOW + 61),
            Err(JwtError::Stale { .. })
        ));
        let expiring = foreign_token(
            Algorithm::HS256,
            serde_json::json!({"iat": NOW, "exp": NOW + 2}),
            &[0xab; 32],
        );
        assert!(v.verify(&expiring, NOW).is_ok());
        assert!(matches!(
            v.verify(&expiring, NOW + 2),
            Err(JwtError::Expired { .. })
        ));
        // A token of the same length that differs is checked in full, and refused.
        let mut forged = token.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        assert!(v.verify(&forged, NOW).is_err());
        assert!(!constant_time_eq(b"ab", b"abc"));
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(Some(b"Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some(b"bearer   abc ")), Ok("abc"));
        assert_eq!(bearer_token(None), Err(JwtError::MissingHeader));
        assert_eq!(bearer_token(Some(b"Basic abc")), Err(JwtError::NotBearer));
        assert_eq!(bearer_token(Some(b"Bearer")), Err(JwtError::NotBearer));
    }

    #[test]
    fn token_cache_reuses_then_refreshes() {
        let clock = ManualClock::new(NOW);
        let cache = TokenCache::new(secret());
        let first = cache.authorization(&clock);
        clock.advance(TOKEN_REUSE_SECS - 1);
        assert!(Arc::ptr_eq(&first, &cache.authorization(&clock)));
        clock.advance(1);
        let second = cache.authorization(&clock);
        assert_ne!(first, second);
        let token = bearer_token(Some(second.as_bytes())).expect("bearer");
        assert_eq!(
            verify(&secret(), token, clock.unix_seconds())
                .expect("valid")
                .iat,
            NOW + TOKEN_REUSE_SECS
        );
        // A clock that steps back gets a fresh token, never one from the future.
        clock.set(NOW);
        let third = cache.authorization(&clock);
        assert_eq!(
            verify(
                &secret(),
                bearer_token(Some(third.as_bytes())).expect("bearer"),
                NOW
            )
            .expect("valid")
            .iat,
            NOW
        );
    }
}
