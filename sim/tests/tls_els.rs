//! TLS over the simulated network: the same rustls code as in production wraps turmoil's
//! streams. ELs behind a private CA (`#ca=`) vote as usual; an EL whose certificate is signed
//! by another CA gets nothing at all, and the run keeps every invariant.

use sim::schedule::Schedule;
use sim::world::{Config, ElSpec, ElTls};
use sim::{run, Scenario};

struct Ca {
    key: rcgen::KeyPair,
    cert: rcgen::Certificate,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("CA cert");
        Self { key, cert }
    }

    /// An identity for host `el`, trusted through the CA file `ca`.
    fn identity(&self, el: &str, ca: &std::path::Path) -> ElTls {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec![el.to_owned()]).expect("params");
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("cert");
        ElTls {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            ca: ca.to_owned(),
        }
    }
}

#[test]
fn private_ca_els_vote_and_an_untrusted_one_gets_nothing() {
    let dir = std::env::temp_dir().join(format!("eb-sim-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let ca_file = dir.join("ca.pem");
    let ours = Ca::new("sim CA");
    let theirs = Ca::new("someone else's CA");
    std::fs::write(&ca_file, ours.cert.pem()).expect("CA file");

    let els = vec![
        ElSpec::new("el1").tls(ours.identity("el1", &ca_file)),
        ElSpec::new("el2").tls(ours.identity("el2", &ca_file)),
        ElSpec::new("el3").tls(theirs.identity("el3", &ca_file)),
    ];
    let scenario = Scenario::new(Config::new(31, els).slots(4), Schedule::new());
    let out = run(&scenario);
    out.print();
    out.assert_ok();
    assert_eq!(
        run(&scenario).hash,
        out.hash,
        "TLS keeps the run deterministic"
    );
    let np = out.calls("engine_newPayload");
    assert_eq!(np.len(), 4);
    for x in &np {
        assert_eq!(x.status(), "VALID", "{x}");
        let counted = x.counted.clone().unwrap_or_default();
        assert_eq!(counted.statuses.len(), 2, "el1 and el2 vote over TLS: {x}");
    }
    for name in ["el1", "el2"] {
        let calls: usize = out.mocks[name]
            .iter()
            .map(|m| m.calls_to("engine_newPayload").len())
            .sum();
        assert_eq!(calls, 4, "{name}");
    }
    let el3: usize = out.mocks["el3"].iter().map(|m| m.calls().len()).sum();
    assert_eq!(el3, 0, "nothing reaches an EL whose certificate fails");
    assert!(out.mocks["el3"].iter().any(|m| m.tls_failures() > 0));
    let _ = std::fs::remove_dir_all(&dir);
}
