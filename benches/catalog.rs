//! Search mode at scale: `cargo bench --bench catalog` (or `--profile dev` for an upper bound).
//!
//! A search-mode catalog of 10,000 tools over 20 upstreams (500 each, descriptions of realistic
//! length sharing most of their words, one made-up word per tool). Reports the time per
//! `search_tools` query (p50, p90, p99 over 2,000 queries: distinctive words, common words and
//! misses), whether each distinctive query found its tool first, and the time of a whole
//! catalog rebuild (naming, collisions and the index). In-process, no upstream; prints a table.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code: a panic is a failed run"
)]
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_hub::catalog::{Catalog, MetaCall, SEARCH_TOOLS};
use mcp_hub::config::{CatalogConfig, CatalogMode, ServerName};
use mcp_hub::item::Item;
use mcp_hub::naming::Namer;
use mcp_hub::upstream::Offer;
use serde_json::{json, Value};

const SERVERS: usize = 20;
const PER_SERVER: usize = 500;
const QUERIES: usize = 2000;

const SYLLABLES: [&str; 16] = [
    "ka", "lo", "mi", "ne", "pu", "ra", "si", "to", "vu", "xe", "zo", "qui", "bre", "dra", "fli",
    "gno",
];
const VERBS: [&str; 8] = [
    "get", "list", "create", "update", "delete", "search", "export", "sync",
];
const NOUNS: [&str; 10] = [
    "issue", "record", "file", "user", "invoice", "ticket", "message", "page", "event", "table",
];

fn word(i: usize) -> String {
    let mut w = String::new();
    let mut n = i;
    for _ in 0..4 {
        w.push_str(SYLLABLES[n % 16]);
        n /= 16;
    }
    w
}

fn offers() -> Vec<(ServerName, Arc<Offer>)> {
    (0..SERVERS)
        .map(|s| {
            let tools: Vec<Value> = (0..PER_SERVER)
                .map(|i| {
                    let k = s * PER_SERVER + i;
                    let (verb, noun) = (VERBS[k % 8], NOUNS[(k / 8) % 10]);
                    json!({
                        "name": format!("{verb}_{noun}_{i}"),
                        "description": format!(
                            "{verb} a {noun} in the {} workspace. Use this when the user asks to {verb} one {noun} by id; returns the {noun} as JSON with its fields, owner and timestamps. Requires the {noun} id and an optional page size.",
                            word(k)
                        ),
                        "inputSchema": {"type": "object", "properties": {
                            "id": {"type": "string", "description": format!("The {noun}'s id")},
                            "page_size": {"type": "integer"},
                            "workspace": {"type": "string"}
                        }, "required": ["id"]}
                    })
                })
                .collect();
            (
                ServerName::new(&format!("srv{s:02}")),
                Arc::new(Offer {
                    tools: Item::list(&tools),
                    ..Default::default()
                }),
            )
        })
        .collect()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let namer = Namer::new("__", 64);
    let cfg = CatalogConfig {
        mode: CatalogMode::Search,
        ..Default::default()
    };
    let offers = offers();
    let mut builds = Vec::new();
    let mut cat = Catalog::default();
    for g in 0..5 {
        let t = Instant::now();
        cat = Catalog::build_shaped(&namer, &cfg, &offers, g);
        builds.push(t.elapsed());
    }
    builds.sort();
    assert_eq!(cat.tools.len(), SERVERS * PER_SERVER);
    let t = Instant::now();
    let values: Vec<Value> = cat.tools.iter().map(Item::value).collect();
    let index = mcp_hub::search::Index::build(&values);
    let index_time = t.elapsed();
    assert_eq!(index.len(), cat.tools.len());
    // One upstream's list changes (one tool more): only its segment is indexed again.
    let mut changed = offers.clone();
    let mut one = (*changed[7].1).clone();
    one.tools
        .push(json!({"name": "added_tool", "description": "added at run time"}).into());
    changed[7].1 = Arc::new(one);
    let t = Instant::now();
    let after = Catalog::rebuild(&namer, &cfg, &changed, 6, Some(&cat));
    let one_changed = t.elapsed();
    assert!(after.index_reused("srv00", &cat) && !after.index_reused("srv07", &cat));
    let full = CatalogConfig::default();
    let t = Instant::now();
    let _ = Catalog::build_shaped(&namer, &full, &offers, 9);
    let full_time = t.elapsed();

    let mut times = Vec::with_capacity(QUERIES);
    let (mut distinctive, mut first) = (0, 0);
    for q in 0..QUERIES {
        let k = (q * 7919) % (SERVERS * PER_SERVER);
        let (s, i) = (k / PER_SERVER, k % PER_SERVER);
        let (verb, noun) = (VERBS[k % 8], NOUNS[(k / 8) % 10]);
        let query = match q % 4 {
            0 | 1 => format!("{} {noun}", word(k)),
            2 => format!("{verb} {noun} by id"),
            _ => "nothing matches zzqx".to_string(),
        };
        let params = json!({"name": SEARCH_TOOLS, "arguments": {"query": query, "limit": 10}});
        let t = Instant::now();
        let answer = cat.meta_call(&params);
        times.push(t.elapsed());
        if q % 4 < 2 {
            distinctive += 1;
            let Some(MetaCall::Answer(a)) = answer else {
                panic!("no answer")
            };
            let want = format!("srv{s:02}__{verb}_{noun}_{i}");
            if a["structuredContent"]["tools"][0]["name"] == json!(want) {
                first += 1;
            }
        }
    }
    times.sort();
    println!(
        "search over {} tools ({SERVERS} servers), {QUERIES} queries, limit 10",
        cat.tools.len()
    );
    println!(
        "  per query: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        pct(&times, 0.5),
        pct(&times, 0.9),
        pct(&times, 0.99),
        times[times.len() - 1]
    );
    println!("  distinctive queries whose tool came first: {first}/{distinctive}");
    println!(
        "  whole catalog rebuild (names, collisions, index): median {:?} of {}",
        pct(&builds, 0.5),
        builds.len()
    );
    println!("    of which the search index: {index_time:?}; the same catalog in full mode (no index): {full_time:?}");
    println!("  rebuild after one upstream's list changed (its index only): {one_changed:?}");
    assert_eq!(
        first, distinctive,
        "every distinctive query finds its tool first"
    );
}
