//! An image pull's progress: the engine's `CreateImageInfo` items folded into each layer's state,
//! and one line that says how far it is (for the hub's log, a terminal's progress line, or plain
//! lines). Pure: knows no engine and no terminal.

use bollard::models::CreateImageInfo;

/// One layer as the engine last reported it.
#[derive(Clone, Debug, Default, PartialEq)]
struct Layer {
    id: String,
    status: String,
    current: i64,
    total: i64,
}

impl Layer {
    fn done(&self) -> bool {
        matches!(self.status.as_str(), "Pull complete" | "Already exists")
    }
}

/// A pull in progress.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    layers: Vec<Layer>,
    /// The last message not about a layer (`Pulling from library/alpine`, a digest).
    status: String,
    /// The layer the last item was about.
    last: Option<usize>,
}

/// What one item changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Bytes moved; the status is the same.
    Bytes,
    /// A layer (or the pull) has a new status: worth a line of its own.
    Status,
    /// A layer finished.
    LayerDone,
}

impl Progress {
    /// Takes one item from the engine; `Err` with the engine's message when it reports an error.
    pub fn feed(&mut self, info: &CreateImageInfo) -> Result<Change, String> {
        if let Some(msg) = info.error_detail.as_ref().and_then(|e| e.message.clone()) {
            return Err(msg);
        }
        let status = info.status.clone().unwrap_or_default();
        // `Pulling from library/alpine` comes with the tag as its id: about the image, not a layer.
        let about_layer = !status.starts_with("Pulling from");
        let id = info
            .id
            .clone()
            .filter(|i| about_layer && !i.is_empty() && !is_reference(i));
        let Some(id) = id else {
            let changed = status != self.status;
            self.status = status;
            self.last = None;
            return Ok(if changed {
                Change::Status
            } else {
                Change::Bytes
            });
        };
        let idx = match self.layers.iter().position(|l| l.id == id) {
            Some(i) => i,
            None => {
                self.layers.push(Layer {
                    id,
                    ..Default::default()
                });
                self.layers.len() - 1
            }
        };
        self.last = Some(idx);
        let layer = &mut self.layers[idx];
        let before = (layer.status.clone(), layer.done());
        if let Some(d) = &info.progress_detail {
            if let Some(t) = d.total.filter(|t| *t > 0) {
                layer.total = t;
            }
            if let Some(c) = d.current {
                layer.current = c;
            }
        }
        layer.status = status;
        if layer.done() && layer.total > 0 {
            layer.current = layer.total;
        }
        Ok(if layer.done() && !before.1 {
            Change::LayerDone
        } else if layer.status != before.0 {
            Change::Status
        } else {
            Change::Bytes
        })
    }

    /// The pull of the image whose id is `image_id` succeeded: every layer is there (podman's
    /// last word on a layer can be `Download complete` where Docker's is `Pull complete`), and
    /// the image's config, which podman tells as one more blob, is no layer.
    pub fn finish(&mut self, image_id: Option<&str>) {
        if let Some(id) = image_id {
            let hex = id.strip_prefix("sha256:").unwrap_or(id);
            self.layers
                .retain(|l| l.id.len() < 12 || !hex.starts_with(l.id.as_str()));
            self.last = None;
        }
        for l in self.layers.iter_mut().filter(|l| !l.done()) {
            l.status = "Pull complete".into();
            if l.total > 0 {
                l.current = l.total;
            }
        }
    }

    /// Layers done, and layers known.
    pub fn layers(&self) -> (usize, usize) {
        (
            self.layers.iter().filter(|l| l.done()).count(),
            self.layers.len(),
        )
    }

    /// Bytes moved and bytes known (of the layers whose size the engine said).
    pub fn bytes(&self) -> (i64, i64) {
        self.layers
            .iter()
            .filter(|l| l.total > 0)
            .fold((0, 0), |(c, t), l| {
                (c + l.current.min(l.total), t + l.total)
            })
    }

    /// `alpine:3: 1/2 layers, 1.2 MB/3.4 MB; 4abcf2066143 Downloading 600.0 kB/2.3 MB`.
    pub fn line(&self, image: &str) -> String {
        let (done, n) = self.layers();
        let mut out = format!("{image}:");
        if n > 0 {
            out.push_str(&format!(" {done}/{n} layers"));
            let (cur, total) = self.bytes();
            if total > 0 {
                out.push_str(&format!(", {}/{}", human(cur), human(total)));
            }
        }
        match self.last.and_then(|i| self.layers.get(i)) {
            Some(l) => {
                let short: String = l.id.chars().take(12).collect();
                out.push_str(&format!("; {short} {}", l.status));
                if l.total > 0 && !l.done() {
                    out.push_str(&format!(" {}/{}", human(l.current), human(l.total)));
                }
            }
            None if !self.status.is_empty() => out.push_str(&format!(
                "{}{}",
                if n > 0 { "; " } else { " " },
                self.status
            )),
            None => {}
        }
        out
    }
}

/// An `id` that names the image rather than a layer (`latest`, `alpine:3`, a digest).
fn is_reference(id: &str) -> bool {
    id.contains(':') || id.contains('/') || id == "latest"
}

/// Bytes as the engines print them (powers of 1000).
pub fn human(n: i64) -> String {
    let n = n.max(0) as f64;
    match n {
        _ if n >= 1e9 => format!("{:.1} GB", n / 1e9),
        _ if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        _ if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        _ => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ErrorDetail, ProgressDetail};

    fn item(
        id: Option<&str>,
        status: &str,
        cur: Option<i64>,
        total: Option<i64>,
    ) -> CreateImageInfo {
        CreateImageInfo {
            id: id.map(str::to_string),
            status: Some(status.to_string()),
            progress_detail: (cur.is_some() || total.is_some()).then_some(ProgressDetail {
                current: cur,
                total,
            }),
            error_detail: None,
        }
    }

    #[test]
    fn a_pull_is_told_layer_by_layer_with_bytes() {
        let mut p = Progress::default();
        let img = "alpine:3";
        assert_eq!(
            p.feed(&item(Some("3"), "Pulling from library/alpine", None, None)),
            Ok(Change::Status)
        );
        assert_eq!(p.line(img), "alpine:3: Pulling from library/alpine");
        p.feed(&item(Some("aaaaaaaaaaaa"), "Pulling fs layer", None, None))
            .unwrap();
        p.feed(&item(Some("bbbbbbbbbbbb"), "Pulling fs layer", None, None))
            .unwrap();
        assert_eq!(
            p.feed(&item(
                Some("aaaaaaaaaaaa"),
                "Downloading",
                Some(1_200_000),
                Some(3_400_000)
            )),
            Ok(Change::Status)
        );
        assert_eq!(
            p.feed(&item(
                Some("aaaaaaaaaaaa"),
                "Downloading",
                Some(2_000_000),
                Some(3_400_000)
            )),
            Ok(Change::Bytes)
        );
        assert_eq!(
            p.line(img),
            "alpine:3: 0/2 layers, 2.0 MB/3.4 MB; aaaaaaaaaaaa Downloading 2.0 MB/3.4 MB"
        );
        assert_eq!(
            p.feed(&item(Some("bbbbbbbbbbbb"), "Already exists", None, None)),
            Ok(Change::LayerDone)
        );
        assert_eq!(
            p.feed(&item(Some("aaaaaaaaaaaa"), "Pull complete", None, None)),
            Ok(Change::LayerDone)
        );
        assert_eq!(p.layers(), (2, 2));
        assert_eq!(p.bytes(), (3_400_000, 3_400_000));
        assert_eq!(
            p.line(img),
            "alpine:3: 2/2 layers, 3.4 MB/3.4 MB; aaaaaaaaaaaa Pull complete"
        );
        p.feed(&item(None, "Digest: sha256:abc", None, None))
            .unwrap();
        assert_eq!(
            p.line(img),
            "alpine:3: 2/2 layers, 3.4 MB/3.4 MB; Digest: sha256:abc"
        );
    }

    #[test]
    fn a_finished_pull_has_every_layer_done() {
        let mut p = Progress::default();
        p.feed(&item(
            Some("aaaaaaaaaaaa"),
            "Downloading",
            Some(10),
            Some(40),
        ))
        .unwrap();
        p.feed(&item(Some("bbbbbbbbbbbb"), "Download complete", None, None))
            .unwrap();
        p.feed(&item(Some("cccccccccccc"), "Download complete", None, None))
            .unwrap();
        assert_eq!(p.layers(), (0, 3));
        p.finish(Some("sha256:cccccccccccc0123"));
        assert_eq!(p.layers(), (2, 2), "the config blob is no layer");
        assert_eq!(p.bytes(), (40, 40));
    }

    #[test]
    fn an_error_item_is_the_engines_message() {
        let mut p = Progress::default();
        let bad = CreateImageInfo {
            error_detail: Some(ErrorDetail {
                code: None,
                message: Some("manifest unknown".into()),
            }),
            ..Default::default()
        };
        assert_eq!(p.feed(&bad), Err("manifest unknown".to_string()));
    }

    #[test]
    fn bytes_are_printed_as_the_engines_do() {
        assert_eq!(human(999), "999 B");
        assert_eq!(human(1_500), "1.5 kB");
        assert_eq!(human(25_300_000), "25.3 MB");
        assert_eq!(human(2_000_000_000), "2.0 GB");
    }
}
