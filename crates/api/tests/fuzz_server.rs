//! Not a test: a guard with its operator API for `scripts/api-fuzz.sh` (schemathesis). Run with
//! `cargo test -p api --test fuzz_server -- --ignored --nocapture`; it writes the API's URL and an admin
//! token to the file named by FUZZ_SERVER_INFO and serves until that file is deleted.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a server for scripts/api-fuzz.sh, not a test"]
async fn fuzz_server() {
    let Some(info) = std::env::var_os("FUZZ_SERVER_INFO") else {
        eprintln!("FUZZ_SERVER_INFO is not set: nothing to do");
        return;
    };
    let r = common::rig().await;
    // Some data for the fuzzer to find: alerts of both tenants and a call in progress.
    r.store()
        .insert_alerts("acme", &[common::decision("pumping", "fuzz")])
        .unwrap();
    r.store()
        .insert_alerts(
            "beta",
            &[common::decision("velocity_account_minute", "fuzz")],
        )
        .unwrap();
    r.call_in_progress(&r.pbx_a, "fuzz-call-1").await;
    let tmp = std::path::PathBuf::from(&info).with_extension("tmp");
    std::fs::write(&tmp, format!("{}\n{}\n", r.url, r.admin)).unwrap();
    std::fs::rename(&tmp, &info).unwrap();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    while std::path::Path::new(&info).exists() {
        tick.tick().await;
    }
}
