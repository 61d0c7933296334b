//! `GET /api/v1/audits`: the recorded PBX audits of the token's tenants, never another tenant's.

mod common;
use common::*;

fn report(tenant: &str, kind: &str, critical: u32, secret: &str) -> store::AuditReport {
    store::AuditReport {
        id: 0,
        tenant: tenant.into(),
        kind: kind.into(),
        started_at: 1_000,
        finished_at: 2_000,
        critical,
        warning: 1,
        info: 0,
        report: format!("{{\"findings\":[{{\"id\":\"default-secret\",\"what\":\"{secret}\"}}]}}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_sees_only_its_tenants_audits() {
    let r = rig().await;
    {
        let s = r.store();
        s.record_audit(&report("acme", "config", 2, "acme ext 205"))
            .unwrap();
        s.record_audit(&report("beta", "credentials", 1, "beta ext 301"))
            .unwrap();
    }
    let acme_viewer = r.token("viewer", Some(&["acme"])).await;

    let (s, list) = r.get("/api/v1/audits", &acme_viewer).await;
    assert_eq!(s, 200, "{list}");
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["tenant"], "acme");
    assert_eq!(list[0]["kind"], "config");
    assert_eq!(list[0]["critical"], 2);
    assert_eq!(
        list[0]["report"]["findings"][0]["what"], "acme ext 205",
        "the report is JSON, not a string"
    );
    let (s, body) = r.get("/api/v1/audits?tenant=beta", &acme_viewer).await;
    assert_eq!(s, 404, "{body}");
    assert!(!body.to_string().contains("beta ext 301"));

    // An unscoped token sees both, newest first, and may filter by tenant.
    let (s, all) = r.get("/api/v1/audits", &r.admin).await;
    assert_eq!(s, 200);
    let tenants: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, ["beta", "acme"]);
    let (_, beta) = r.get("/api/v1/audits?tenant=beta", &r.admin).await;
    assert_eq!(beta.as_array().unwrap().len(), 1);
}
