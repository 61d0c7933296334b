//! Calls in progress kept across a restart: upserted by Call-ID, removed when they end, loaded back as the
//! guard wrote them, and pruned when they were not written for too long.

use store::Store;

fn row(call_id: &str, tenant: &str, json: &str) -> (String, String, String) {
    (call_id.into(), tenant.into(), json.into())
}

#[test]
fn dialogs_are_upserted_ended_loaded_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollguard.db");
    {
        let mut s = Store::open(&path).unwrap();
        s.save_dialogs_at(
            100,
            &[
                row("a@pbx", "acme", r#"{"state":"ringing"}"#),
                row("b@pbx", "globex", r#"{"state":"ringing"}"#),
            ],
            &[],
        )
        .unwrap();
        // Answered: the same call id again replaces its row.
        s.save_dialogs_at(200, &[row("a@pbx", "acme", r#"{"state":"answered"}"#)], &[])
            .unwrap();
        s.save_dialogs_at(
            300,
            &[row("c@pbx", "acme", "{}")],
            &["b@pbx".into(), "never-stored".into()],
        )
        .unwrap();
        // Upserted and ended in the same batch: gone.
        s.save_dialogs_at(300, &[row("d@pbx", "acme", "{}")], &["d@pbx".into()])
            .unwrap();
        s.save_dialogs(&[], &[]).unwrap();
        // Dropped without closing, like a guard that is killed.
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(
        s.load_dialogs().unwrap(),
        vec![
            row("a@pbx", "acme", r#"{"state":"answered"}"#),
            row("c@pbx", "acme", "{}"),
        ]
    );
    assert_eq!(
        s.prune_dialogs(200).unwrap(),
        0,
        "written at 200: not before 200"
    );
    assert_eq!(s.prune_dialogs(250).unwrap(), 1);
    assert_eq!(s.load_dialogs().unwrap(), vec![row("c@pbx", "acme", "{}")]);
}

#[test]
fn save_dialogs_stamps_the_wall_clock() {
    let mut s = Store::in_memory().unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    s.save_dialogs(&[row("a@pbx", "acme", "{}")], &[]).unwrap();
    assert_eq!(s.prune_dialogs(before - 1).unwrap(), 0);
    assert_eq!(s.load_dialogs().unwrap().len(), 1);
    assert_eq!(
        s.prune_dialogs(i64::MAX).unwrap(),
        1,
        "older than any time to come"
    );
}
