//! Cost of one passive weak-password check (`audit::weak_login`), as the guard pays it once per account and
//! hour on an accepted login: the worst case is a strong password (every candidate tried, no match); a vendor
//! default near the head of the list stops early.
use audit::digest::{Algorithm, DigestParams};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn seen(password: &str, algorithm: Algorithm) -> (DigestParams, String) {
    let p = DigestParams {
        algorithm,
        username: "205".into(),
        realm: "asterisk".into(),
        nonce: "5f1e9a77c3d0".into(),
        method: "REGISTER".into(),
        uri: "sip:pbx.example.jp".into(),
        qop: Some("auth".into()),
        nc: "00000001".into(),
        cnonce: "0a4f113b".into(),
        opaque: None,
    };
    let r = p.response(password);
    (p, r)
}

fn check(p: &DigestParams, response: &str) -> Option<audit::Match> {
    audit::weak_login(
        &p.username,
        &p.realm,
        &p.nonce,
        &p.method,
        &p.uri,
        response,
        Some(p.algorithm.name()),
        p.qop.as_deref(),
        Some(&p.nc),
        Some(&p.cnonce),
    )
}

fn weak_login(c: &mut Criterion) {
    for (name, password, alg) in [
        (
            "weak_login miss MD5 (all candidates)",
            "q7#Lp-93vX!e",
            Algorithm::Md5,
        ),
        (
            "weak_login miss SHA-256 (all candidates)",
            "q7#Lp-93vX!e",
            Algorithm::Sha256,
        ),
        ("weak_login hit MD5 yealink-admin", "admin", Algorithm::Md5),
    ] {
        let (p, r) = seen(password, alg);
        c.bench_function(name, |b| b.iter(|| check(black_box(&p), black_box(&r))));
    }
}

criterion_group!(benches, weak_login);
criterion_main!(benches);
