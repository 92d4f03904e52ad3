//! Signed EIP-1559 transfers, for putting real transactions into real ELs' blocks.
//!
//! Just enough RLP, keccak-256 and secp256k1 to make a type-2 transaction: no contract calls,
//! no access lists.

use k256::ecdsa::SigningKey;
use sha3::{Digest, Keccak256};

/// The private key of the account funded in `genesis-cancun.json`
/// (`0x8943545177806ED17B9F23F0a21ee5948eCaa776`): a published development key that holds
/// nothing on any real network.
pub const DEV_KEY: &str = "bcdf20249abf0ed6d944c0288fad489e33f66b3960d9e6229c1cd214ed3bbe31";

/// keccak-256.
pub fn keccak(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// An account that signs transfers, tracking its own nonce.
pub struct Wallet {
    key: SigningKey,
    address: [u8; 20],
    chain_id: u64,
    /// The nonce of the next transaction.
    pub nonce: u64,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("address", &self.address_hex())
            .field("chain_id", &self.chain_id)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

/// One signed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    /// The EIP-2718 envelope, as `eth_sendRawTransaction` takes it.
    pub raw: Vec<u8>,
    pub hash: [u8; 32],
    pub nonce: u64,
}

impl SignedTx {
    pub fn raw_hex(&self) -> String {
        format!("0x{}", hex::encode(&self.raw))
    }

    pub fn hash_hex(&self) -> String {
        format!("0x{}", hex::encode(self.hash))
    }
}

/// Fees and gas of a plain transfer.
#[derive(Clone, Copy, Debug)]
pub struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    pub gas_limit: u64,
}

impl Default for Fees {
    /// 10 gwei cap, 1 gwei tip, 21 000 gas: enough on a fresh devnet (base fee 1 gwei at
    /// genesis, falling while blocks are empty).
    fn default() -> Self {
        Self {
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            gas_limit: 21_000,
        }
    }
}

impl Wallet {
    /// A wallet for a hex private key (with or without `0x`) on `chain_id`, starting at nonce 0.
    pub fn from_hex(key: &str, chain_id: u64) -> Result<Self, String> {
        let bytes = hex::decode(key.trim().trim_start_matches("0x"))
            .map_err(|e| format!("private key is not hex: {e}"))?;
        let key = SigningKey::from_slice(&bytes).map_err(|_| "not a secp256k1 private key")?;
        let point = key.verifying_key().to_encoded_point(false);
        let hash = keccak(&point.as_bytes()[1..]);
        let mut address = [0u8; 20];
        address.copy_from_slice(&hash[12..]);
        Ok(Self {
            key,
            address,
            chain_id,
            nonce: 0,
        })
    }

    pub fn address(&self) -> [u8; 20] {
        self.address
    }

    /// `0x` + 40 lowercase hex digits.
    pub fn address_hex(&self) -> String {
        format!("0x{}", hex::encode(self.address))
    }

    /// Signs a transfer of `value` wei to `to` with the next nonce, and moves the nonce on.
    pub fn transfer(&mut self, to: [u8; 20], value: u128, fees: Fees) -> SignedTx {
        let nonce = self.nonce;
        self.nonce += 1;
        let fields = |out: &mut Vec<u8>| {
            rlp_uint(out, u128::from(self.chain_id));
            rlp_uint(out, u128::from(nonce));
            rlp_uint(out, fees.max_priority_fee_per_gas);
            rlp_uint(out, fees.max_fee_per_gas);
            rlp_uint(out, u128::from(fees.gas_limit));
            rlp_bytes(out, &to);
            rlp_uint(out, value);
            rlp_bytes(out, &[]); // data
            rlp_list(out, &[]); // access list
        };
        let mut unsigned = Vec::with_capacity(64);
        fields(&mut unsigned);
        let mut preimage = vec![0x02];
        rlp_list(&mut preimage, &unsigned);
        let digest = keccak(&preimage);
        let (signature, recovery) = self
            .key
            .sign_prehash_recoverable(&digest)
            .expect("a 32-byte digest always signs");
        // Ethereum only takes low-s signatures; normalizing flips the parity of y.
        let (signature, y_odd) = match signature.normalize_s() {
            Some(normalized) => (normalized, !recovery.is_y_odd()),
            None => (signature, recovery.is_y_odd()),
        };
        let (r, s) = signature.split_bytes();
        let mut signed = unsigned;
        rlp_uint(&mut signed, u128::from(y_odd));
        rlp_bytes(&mut signed, strip_zeros(&r));
        rlp_bytes(&mut signed, strip_zeros(&s));
        let mut raw = vec![0x02];
        rlp_list(&mut raw, &signed);
        SignedTx {
            hash: keccak(&raw),
            raw,
            nonce,
        }
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn rlp_length(out: &mut Vec<u8>, len: usize, short: u8) {
    if len < 56 {
        out.push(short + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let len_bytes = strip_zeros(&be);
        out.push(short + 55 + len_bytes.len() as u8);
        out.extend_from_slice(len_bytes);
    }
}

/// RLP of a byte string.
pub fn rlp_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() == 1 && bytes[0] < 0x80 {
        out.push(bytes[0]);
    } else {
        rlp_length(out, bytes.len(), 0x80);
        out.extend_from_slice(bytes);
    }
}

/// RLP of an unsigned integer (big-endian, no leading zeros; 0 is the empty string).
pub fn rlp_uint(out: &mut Vec<u8>, value: u128) {
    rlp_bytes(out, strip_zeros(&value.to_be_bytes()));
}

/// RLP of a list whose items are already encoded in `payload`.
pub fn rlp_list(out: &mut Vec<u8>, payload: &[u8]) {
    rlp_length(out, payload.len(), 0xc0);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

    #[test]
    fn dev_key_is_the_funded_genesis_account() {
        let w = Wallet::from_hex(DEV_KEY, 1337).expect("key");
        assert_eq!(
            w.address_hex(),
            "0x8943545177806ed17b9f23f0a21ee5948ecaa776"
        );
    }

    #[test]
    fn rlp_encodings() {
        let enc = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut v = Vec::new();
            f(&mut v);
            v
        };
        assert_eq!(enc(&|o| rlp_uint(o, 0)), [0x80]);
        assert_eq!(enc(&|o| rlp_uint(o, 15)), [0x0f]);
        assert_eq!(enc(&|o| rlp_uint(o, 1024)), [0x82, 0x04, 0x00]);
        assert_eq!(enc(&|o| rlp_bytes(o, b"dog")), [0x83, b'd', b'o', b'g']);
        assert_eq!(enc(&|o| rlp_list(o, &[])), [0xc0]);
        let long = [0xaa; 60];
        let e = enc(&|o| rlp_bytes(o, &long));
        assert_eq!(&e[..2], &[0xb8, 60]);
        assert_eq!(e.len(), 62);
    }

    #[test]
    fn transfers_recover_to_the_sender_and_use_low_s() {
        let mut w = Wallet::from_hex(DEV_KEY, 1337).expect("key");
        for n in 0..16 {
            let tx = w.transfer([0x11; 20], 1, Fees::default());
            assert_eq!(tx.nonce, n);
            assert_eq!(tx.raw[0], 0x02);
            // Decode the tail: ... yParity, r (33 bytes with prefix), s.
            let body = &tx.raw[1..];
            let (payload, _) = split_list(body);
            let items = split_items(payload);
            assert_eq!(items.len(), 12);
            let unsigned: Vec<u8> = items[..9].concat();
            let mut preimage = vec![0x02];
            rlp_list(&mut preimage, &unsigned);
            let digest = keccak(&preimage);
            let value = |item: &[u8]| -> Vec<u8> {
                if item.len() == 1 && item[0] < 0x80 {
                    item.to_vec()
                } else {
                    item[1..].to_vec()
                }
            };
            let parity = value(&items[9]);
            let mut r = [0u8; 32];
            let rv = value(&items[10]);
            r[32 - rv.len()..].copy_from_slice(&rv);
            let mut s = [0u8; 32];
            let sv = value(&items[11]);
            s[32 - sv.len()..].copy_from_slice(&sv);
            let sig = Signature::from_scalars(r, s).expect("sig");
            assert!(sig.normalize_s().is_none(), "high s");
            let recid = RecoveryId::new(parity == [1], false);
            let key = VerifyingKey::recover_from_prehash(&digest, &sig, recid).expect("recovers");
            let point = key.to_encoded_point(false);
            assert_eq!(&keccak(&point.as_bytes()[1..])[12..], &w.address()[..]);
        }
    }

    fn split_list(data: &[u8]) -> (&[u8], &[u8]) {
        let (offset, len) = header(data);
        (&data[offset..offset + len], &data[offset + len..])
    }

    fn header(data: &[u8]) -> (usize, usize) {
        let b = data[0];
        let (short, long) = if b >= 0xc0 {
            (0xc0, 0xf7)
        } else {
            (0x80, 0xb7)
        };
        if b < 0x80 {
            return (0, 1);
        }
        if b <= long {
            (1, usize::from(b - short))
        } else {
            let n = usize::from(b - long);
            let len = data[1..=n]
                .iter()
                .fold(0usize, |acc, x| acc * 256 + usize::from(*x));
            (1 + n, len)
        }
    }

    fn split_items(mut data: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let (offset, len) = header(data);
            out.push(data[..offset + len].to_vec());
            data = &data[offset + len..];
        }
        out
    }
}
