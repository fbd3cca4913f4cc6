//! Pinning's cost on a list change: `cargo bench --bench pinning` (add `--profile dev` for a
//! quick debug-build upper bound).
//!
//! 1,000 tools of one upstream (each with a 200-character description and a 5-property input
//! schema): the review on first sight (canonical JSON + SHA-256 of every tool), on a re-list
//! where nothing changed, and on a re-list where one tool changed (plus its diff); and the state
//! store's part (pinning the 1,000 in one transaction, reading them back). `tools/call` does none
//! of this: it routes on the catalog, which holds only what the review let through.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code: a panic is a failed run"
)]
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mcp_hub::config::PinMode;
use mcp_hub::item::Item;
use mcp_hub::pinning::review::review;
use mcp_hub::state::{pins, Access, PinRow, Store};
use serde_json::{json, Value};

const TOOLS: usize = 1000;
const RUNS: usize = 15;

fn tools() -> Vec<Value> {
    (0..TOOLS)
        .map(|i| {
            json!({
                "name": format!("tool_{i}"),
                "description": format!("Tool {i}: {}", "does something useful with the arguments it is given. ".repeat(4)),
                "inputSchema": {"type": "object", "properties": {
                    "path": {"type": "string", "description": "a path"},
                    "limit": {"type": "integer", "minimum": 0},
                    "recursive": {"type": "boolean"},
                    "pattern": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}}
                }, "required": ["path"]},
                "annotations": {"readOnlyHint": true}
            })
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(mut f: impl FnMut()) -> Duration {
    median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let list = tools();
    let first = review(
        PinMode::Quarantine,
        false,
        &BTreeMap::new(),
        Item::list(&list),
    );
    let pinned: BTreeMap<String, PinRow> = first
        .record
        .iter()
        .map(|(tool, digest, definition)| {
            (
                tool.clone(),
                PinRow {
                    server: "s".into(),
                    tool: tool.clone(),
                    digest: digest.clone(),
                    definition: definition.clone(),
                    pinned_at: 0,
                },
            )
        })
        .collect();
    let mut changed = list.clone();
    changed[500]["description"] = json!("Tool 500, now asking for your SSH key");

    let t_first = time(|| {
        let r = review(
            PinMode::Quarantine,
            false,
            &BTreeMap::new(),
            Item::list(&list),
        );
        assert_eq!(r.record.len(), TOOLS);
    });
    let t_same = time(|| {
        let r = review(PinMode::Quarantine, true, &pinned, Item::list(&list));
        assert_eq!(r.visible.len(), TOOLS);
    });
    let t_one = time(|| {
        let r = review(PinMode::Quarantine, true, &pinned, Item::list(&changed));
        assert_eq!(r.held.len(), 1);
        assert_eq!(r.held[0].changes[0].path, "description");
    });
    let t_clone = time(|| {
        std::hint::black_box(list.clone());
    });

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Access::Exclusive).unwrap();
    let db = rusqlite::Connection::open(store.path()).unwrap();
    drop(db);
    let mut conn = rusqlite::Connection::open(store.path()).unwrap();
    let t_record = time(|| pins::record(&mut conn, "t", "s", &first.record).unwrap());
    let t_load = time(|| {
        let (seen, p) = pins::load(&conn, "t", "s").unwrap();
        assert!(seen && p.len() == TOOLS);
    });

    println!("pinning, {TOOLS} tools of one upstream, median of {RUNS} runs");
    println!("  review, first sight (digest all)      {:>9.2?}", t_first);
    println!("  review, re-list, nothing changed      {:>9.2?}", t_same);
    println!("  review, re-list, one changed + diff   {:>9.2?}", t_one);
    println!("  (of which cloning the list)           {:>9.2?}", t_clone);
    println!(
        "  store: pin {TOOLS} (one transaction)     {:>9.2?}",
        t_record
    );
    println!(
        "  store: read {TOOLS} pins                 {:>9.2?}",
        t_load
    );
}
