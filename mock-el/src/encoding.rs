//! Engine API encodings: 32-byte hashes (`DATA`) and `QUANTITY` numbers, both as `0x` hex.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 32-byte hash (block hash, versioned hash, ...), written as `0x` + 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct B256(pub [u8; 32]);

/// Why a string is not a hash or a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("expected 0x followed by {expected} hex digits")]
    Hash { expected: usize },
    #[error("expected a QUANTITY: 0x followed by 1 to 16 hex digits")]
    Quantity,
}

impl B256 {
    /// All zeroes (`0x00..00`).
    pub const ZERO: B256 = B256([0; 32]);

    /// Parses `0x` + 64 hex digits (either case).
    pub fn parse(text: &str) -> Result<Self, HexError> {
        let err = HexError::Hash { expected: 64 };
        let digits = text.strip_prefix("0x").ok_or(err.clone())?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(digits, &mut out).map_err(|_| err)?;
        Ok(Self(out))
    }

    /// `0x` + 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(66);
        s.push_str("0x");
        s.push_str(&hex::encode(self.0));
        s
    }
}

impl fmt::Display for B256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for B256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for B256 {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for B256 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 66];
        buf[0] = b'0';
        buf[1] = b'x';
        // Cannot fail: the output buffer is exactly twice the input length.
        let _ = hex::encode_to_slice(self.0, &mut buf[2..]);
        let text = std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for B256 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = B256;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 32-byte hash as 0x + 64 hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<B256, E> {
                B256::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Parses a `QUANTITY` (`0x` + 1..16 hex digits; leading zeros tolerated).
pub fn parse_quantity(text: &str) -> Result<u64, HexError> {
    let digits = text.strip_prefix("0x").ok_or(HexError::Quantity)?;
    if digits.is_empty() || digits.len() > 16 {
        return Err(HexError::Quantity);
    }
    u64::from_str_radix(digits, 16).map_err(|_| HexError::Quantity)
}

/// A number serialized as a `QUANTITY` (`0x` hex, no leading zeros).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity(pub u128);

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{:#x}", self.0))
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text: std::borrow::Cow<'de, str> = Deserialize::deserialize(deserializer)?;
        let digits = text
            .strip_prefix("0x")
            .filter(|d| !d.is_empty() && d.len() <= 32)
            .ok_or_else(|| serde::de::Error::custom(HexError::Quantity))?;
        u128::from_str_radix(digits, 16)
            .map(Quantity)
            .map_err(|_| serde::de::Error::custom(HexError::Quantity))
    }
}

impl From<u64> for Quantity {
    fn from(n: u64) -> Self {
        Quantity(n.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_and_reject_junk() {
        let text = format!("0x{}", "ab".repeat(32));
        let h = B256::parse(&text).expect("hash");
        assert_eq!(h.to_hex(), text);
        assert_eq!(h.to_string(), text);
        assert_eq!(
            serde_json::to_string(&h).expect("json"),
            format!("\"{text}\"")
        );
        let back: B256 = serde_json::from_str(&format!("\"{text}\"")).expect("parse");
        assert_eq!(back, h);
        assert!(B256::parse(&"ab".repeat(32)).is_err());
        assert!(B256::parse("0xab").is_err());
        assert!(B256::parse(&format!("0x{}", "zz".repeat(32))).is_err());
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("0x0"), Ok(0));
        assert_eq!(parse_quantity("0x539"), Ok(1337));
        assert_eq!(parse_quantity("0xffffffffffffffff"), Ok(u64::MAX));
        assert!(parse_quantity("0x").is_err());
        assert!(parse_quantity("12").is_err());
        assert!(parse_quantity("0x10000000000000000").is_err());
        assert_eq!(
            serde_json::to_string(&Quantity(0)).expect("json"),
            "\"0x0\""
        );
        assert_eq!(
            serde_json::to_string(&Quantity(1337)).expect("json"),
            "\"0x539\""
        );
    }
}
