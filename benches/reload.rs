//! Hot reload at scale: `cargo bench --bench reload`.
//!
//! A hub of 100 tenants × 10 servers (lazy, so nothing starts: what is measured is the hub's own
//! work) plus one tenant of 10 `demo_server` upstreams that are up; one server of that tenant
//! changes. Reports the time `apply` takes (stopping the changed server included, its new start
//! not: that runs after `apply` returns), whether any other upstream restarted (their pids), and
//! the time of a reload that changes nothing. Runs in-process; prints a table.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code: a panic is a failed run"
)]
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mcp_hub::config::HubConfig;
use mcp_hub::hub::{Hub, ReloadSource};

fn config(demo: &Path, changed: bool) -> String {
    let mut s = String::from("[hub]\nshutdown_grace = \"1s\"\n");
    for t in 0..100 {
        for k in 0..10 {
            s += &format!(
                "[tenants.t{t:03}.servers.s{k}]\ncommand = \"{}\"\nstart = \"lazy\"\n",
                demo.display()
            );
        }
    }
    for k in 0..10 {
        s += &format!(
            "[tenants.live.servers.d{k}]\ncommand = \"{}\"\n",
            demo.display()
        );
        if k == 0 && changed {
            s += "args = [\"--name\", \"changed\"]\n";
        }
    }
    s
}

fn pids(hub: &Hub) -> Vec<(String, Option<u32>)> {
    let t = hub.tenant("live").unwrap();
    t.upstreams()
        .values()
        .map(|u| (u.name.to_string(), u.pid()))
        .collect()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let st = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "--example", "demo_server"])
        .current_dir(&root)
        .status()
        .unwrap();
    assert!(st.success(), "could not build demo_server");
    let demo = target
        .join("release/examples/demo_server")
        .canonicalize()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.toml");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        std::fs::write(&path, config(&demo, false)).unwrap();
        let started = Instant::now();
        let c = HubConfig::load(&path).unwrap();
        let parse = started.elapsed();
        let hub = Hub::start(c, None);
        let live = hub.tenant("live").unwrap();
        tokio::time::timeout(Duration::from_secs(30), live.wait_ready())
            .await
            .unwrap();
        let before = pids(&hub);
        assert!(
            before.iter().all(|(_, p)| p.is_some()),
            "every live server is up: {before:?}"
        );

        let same = hub.reload(ReloadSource::Api).await.unwrap();
        std::fs::write(&path, config(&demo, true)).unwrap();
        let changed = hub.reload(ReloadSource::Api).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = pids(&hub);
        let restarted: Vec<&String> = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.1 != a.1)
            .map(|(b, _)| &b.0)
            .collect();
        println!("reload bench: 100 tenants x 10 lazy servers + 10 live demo_server upstreams");
        println!("| what | figure |");
        println!("|---|---|");
        println!(
            "| parse + validate 1,010 servers | {:.1} ms |",
            parse.as_secs_f64() * 1000.0
        );
        println!(
            "| reload, nothing changed (read, validate, diff) | {:.1} ms |",
            same.took_ms
        );
        println!(
            "| reload, one live server changed (its stop included, its start not) | {:.1} ms |",
            changed.took_ms
        );
        println!("| upstreams restarted | {restarted:?} (expected: [\"d0\"]) |");
        println!(
            "| generation | {} → {} |",
            same.generation, changed.generation
        );
        assert_eq!(restarted, vec!["d0"], "only the changed server restarts");
        hub.stop().await;
    });
}
