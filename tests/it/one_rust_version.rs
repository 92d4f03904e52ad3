//! The minimum Rust version is stated once, in Cargo.toml's `rust-version`; every other place
//! that names one (READMEs, the Dockerfile's default toolchain, the flake) names the same.

use std::path::Path;

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `1.NN` that follows one of `markers` in `text`.
fn versions_after(text: &str, markers: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for marker in markers {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            let version: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let version = version.trim_end_matches('.').to_owned();
            if version.starts_with("1.") {
                out.push(version);
            }
        }
    }
    out
}

#[test]
fn every_stated_minimum_is_cargo_tomls() {
    let manifest = read("Cargo.toml");
    let wanted = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("Cargo.toml has a rust-version");
    let places = [
        ("README.md", &["Rust ", "rustc "][..]),
        ("dockerized/README.md", &["Rust ", "rust:"][..]),
        ("dockerized/Dockerfile", &["RUST_VERSION="][..]),
        ("flake.nix", &["rustc "][..]),
    ];
    let mut seen = 0;
    for (file, markers) in places {
        for v in versions_after(&read(file), markers) {
            assert_eq!(v, wanted, "{file} states Rust {v}, Cargo.toml {wanted}");
            seen += 1;
        }
    }
    assert!(seen >= 4, "every place names the version ({seen} found)");
}
