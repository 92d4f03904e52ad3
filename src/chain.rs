//! The chain every node must be on: `--chain-id N` or `--network NAME`, compared with each
//! node's `eth_chainId` at start-up and on every probe.

/// Networks known by name, with their chain ids.
pub const NETWORKS: [(&str, u64); 4] = [
    ("mainnet", 1),
    ("sepolia", 11_155_111),
    ("hoodi", 560_048),
    ("holesky", 17_000),
];

/// `--network`: a known network's name.
pub fn parse_network(name: &str) -> Result<u64, String> {
    let name = name.trim();
    NETWORKS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, id)| *id)
        .ok_or_else(|| {
            let known: Vec<&str> = NETWORKS.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown network {name:?}: use one of {} (or --chain-id N)",
                known.join(", ")
            )
        })
}

/// `--chain-id`: decimal, or hex with `0x`.
pub fn parse_chain_id(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    };
    parsed
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("{s:?} is not a chain id (a positive number, decimal or 0x hex)"))
}

/// A node's `eth_chainId` answer (a hex QUANTITY) as a number; `None` when it is not one.
pub fn answer_value(answer: &str) -> Option<u64> {
    let hex = answer
        .trim()
        .strip_prefix("0x")
        .or_else(|| answer.trim().strip_prefix("0X"))?;
    u64::from_str_radix(hex, 16).ok()
}

/// How a chain id is shown: decimal, with the network's name when it has one.
pub fn describe(id: u64) -> String {
    match NETWORKS.iter().find(|(_, n)| *n == id) {
        Some((name, _)) => format!("{id} ({name})"),
        None => id.to_string(),
    }
}

/// Whether two `eth_chainId` answers name the same chain (as numbers when both are hex
/// quantities: `0x01` is `0x1`).
pub fn same_chain(a: &str, b: &str) -> bool {
    match (answer_value(a), answer_value(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.eq_ignore_ascii_case(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_answers_compare_by_value() {
        // Both the probe and `/add_nodes` compare with this: `0x01` is `0x1`.
        assert!(same_chain("0x01", "0x1"));
        assert!(same_chain("0xAA36A7", "0xaa36a7"));
        assert!(!same_chain("0x1", "0x11155111"));
        assert!(!same_chain("0x1", "0x2"));
        // Not hex quantities: compared as text, case aside.
        assert!(same_chain("Mainnet", "mainnet"));
        assert!(!same_chain("junk", "0x1"));
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_network("Hoodi"), Ok(560_048));
        assert!(parse_network("goerli")
            .expect_err("gone")
            .contains("mainnet, sepolia, hoodi, holesky"));
        assert_eq!(parse_chain_id("17000"), Ok(17_000));
        assert_eq!(parse_chain_id("0x4268"), Ok(17_000));
        assert!(parse_chain_id("0").is_err());
        assert!(parse_chain_id("mainnet").is_err());
        assert_eq!(answer_value("0x01"), Some(1));
        assert_eq!(answer_value("1"), None);
        assert_eq!(describe(1), "1 (mainnet)");
        assert_eq!(describe(7), "7");
    }
}
