//! `mcp-hub pull [IMAGE…]`: pull images through the container engine the config names (every
//! configured container image when none is given), with the progress (layers, bytes) on stderr:
//! one line rewritten in place on a terminal, plain lines otherwise. Results on stdout.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::config::HubConfig;
use crate::upstream::container::engine::Engine;
use crate::upstream::container::pull::Change;

use super::{EXIT_FAILURE, EXIT_OK};

/// Plain progress lines at most this often (a layer's completion is always told).
const PLAIN_EVERY: Duration = Duration::from_secs(1);
/// A terminal's line is redrawn at most this often.
const TTY_EVERY: Duration = Duration::from_millis(100);

/// The images to pull: those asked for, else every configured container server's, once each.
fn images(config: &HubConfig, asked: &[String]) -> Vec<String> {
    if !asked.is_empty() {
        return asked.to_vec();
    }
    let mut v: Vec<String> = config
        .tenants
        .values()
        .flat_map(|t| t.servers.values())
        .filter_map(|s| s.container.as_ref().map(|k| k.image.clone()))
        .collect();
    v.sort();
    v.dedup();
    v
}

pub(super) async fn pull(config: &HubConfig, asked: &[String]) -> u8 {
    let images = images(config, asked);
    if images.is_empty() {
        eprintln!("nothing to pull: the config has no container server (name images: `mcp-hub pull IMAGE…`)");
        return EXIT_OK;
    }
    let engine = match Engine::connect(&config.hub.containers) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    if let Err(e) = engine.ping().await {
        eprintln!("error: {e}");
        return EXIT_FAILURE;
    }
    let tty = std::io::stderr().is_terminal();
    let mut failed = 0;
    for image in &images {
        let mut last: Option<Instant> = None;
        let mut drawn = false;
        let result = engine
            .pull_with(image, |p, change| {
                let every = if tty { TTY_EVERY } else { PLAIN_EVERY };
                let due = last.is_none_or(|t| t.elapsed() >= every);
                if !(due || change == Change::LayerDone) {
                    return;
                }
                last = Some(Instant::now());
                let mut err = std::io::stderr().lock();
                if tty {
                    // One line, redrawn in place (`\r` and erase to the end of the line).
                    let _ = write!(err, "\r\x1b[2K{}", p.line(image));
                    drawn = true;
                } else {
                    let _ = writeln!(err, "{}", p.line(image));
                }
                let _ = err.flush();
            })
            .await;
        if drawn {
            eprintln!();
        }
        match result {
            Ok(()) => {
                let _ = writeln!(std::io::stdout().lock(), "pulled {image}");
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    if failed > 0 {
        EXIT_FAILURE
    } else {
        EXIT_OK
    }
}
