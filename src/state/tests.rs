//! The store against real files: created, migrated, locked, reopened.

use super::*;

#[test]
fn a_new_store_is_created_and_migrated_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("deep/state");
    {
        let s = Store::open(&sub, Access::Exclusive).unwrap();
        let mut c = s.conn.locked();
        pins::record(
            &mut c,
            "t",
            "srv",
            &[("echo".into(), "d1".into(), "{}".into())],
        )
        .unwrap();
    }
    let s = Store::open(&sub, Access::Exclusive).unwrap();
    let c = s.conn.locked();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, migrate::latest());
    let (seen, pins) = pins::load(&c, "t", "srv").unwrap();
    assert!(seen);
    assert_eq!(pins["echo"].digest, "d1");
    let (seen, pins) = pins::load(&c, "t", "other").unwrap();
    assert!(!seen && pins.is_empty());
}

#[test]
fn a_second_writer_is_refused_with_the_holders_pid_and_a_reader_may_read() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path(), Access::Exclusive).unwrap();
    let err = Store::open(dir.path(), Access::Exclusive).unwrap_err();
    match &err {
        StateError::Busy { path, pid } => {
            assert_eq!(path, &dir.path().join(DB_FILE));
            assert_eq!(*pid, Some(std::process::id()));
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("in use by another mcp-hub") && text.contains("hub.state_dir"),
        "{text}"
    );
    let reader = Store::open(dir.path(), Access::ReadIfBusy).unwrap();
    assert!(!reader.writable());
    assert!(first.writable());
    drop(first);
    Store::open(dir.path(), Access::Exclusive).unwrap();
}

#[test]
fn a_store_from_a_newer_hub_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = Connection::open(dir.path().join(DB_FILE)).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = Store::open(dir.path(), Access::Exclusive).unwrap_err();
    assert!(matches!(err, StateError::TooNew { found: 99, .. }), "{err}");
}
