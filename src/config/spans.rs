//! Key path → byte spans in the file (from toml's spanned parse), and a span → line, column and source line.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::report::Location;

/// What to underline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The value (type and value errors).
    Value,
    /// The key (unknown keys).
    Key,
}

/// Where each key path of a file is written.
#[derive(Debug, Default)]
pub struct Spans<'t> {
    text: &'t str,
    /// path → (key span, value span); array elements (`args[1]`) have their value span twice.
    at: BTreeMap<String, (Range<usize>, Range<usize>)>,
}

impl<'t> Spans<'t> {
    /// Indexes `text`; an empty index if it is not valid TOML (the caller reports that).
    pub fn new(text: &'t str) -> Self {
        let mut s = Spans {
            text,
            at: BTreeMap::new(),
        };
        if let Ok(doc) = DeTable::parse(text) {
            s.table("", doc.get_ref());
        }
        s
    }

    fn table(&mut self, path: &str, t: &DeTable<'_>) {
        for (k, v) in t.iter() {
            let p = if path.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{path}.{}", k.get_ref())
            };
            self.at.insert(p.clone(), (k.span(), v.span()));
            self.value(&p, v);
        }
    }

    fn value(&mut self, path: &str, v: &Spanned<DeValue<'_>>) {
        match v.get_ref() {
            DeValue::Table(t) => self.table(path, t),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.at.insert(p.clone(), (item.span(), item.span()));
                    self.value(&p, item);
                }
            }
            _ => {}
        }
    }

    /// The byte offset of `path`'s key in the file (for the order tables are written in).
    pub fn offset(&self, path: &str) -> Option<usize> {
        self.at.get(path).map(|(key, _)| key.start)
    }

    /// The line `path` is written on, only when it is written there itself.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let (key, _) = self.at.get(path)?;
        self.location(key.clone()).map(|l| l.line)
    }

    /// Where `path` is written; for a key that is not in the file (a missing key), the nearest
    /// table around it that is.
    pub fn locate(&self, path: &str, target: Target) -> Option<Location> {
        if let Some((key, value)) = self.at.get(path) {
            return self.location(match target {
                Target::Key => key.clone(),
                Target::Value => value.clone(),
            });
        }
        let mut p = path;
        while let Some(cut) = p.rfind(['.', '[']) {
            p = &p[..cut];
            if let Some((_, value)) = self.at.get(p) {
                return self.location(value.clone());
            }
        }
        None
    }

    /// Line, column and the line's text for a byte span; the caret stops at the line's end.
    pub fn location(&self, span: Range<usize>) -> Option<Location> {
        let start = span.start.min(self.text.len());
        let line_start = self.text.get(..start)?.rfind('\n').map_or(0, |i| i + 1);
        let line_end = self
            .text
            .get(start..)?
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let source_line = self.text.get(line_start..line_end)?.replace('\t', " ");
        let column = self.text.get(line_start..start)?.chars().count() + 1;
        let end = span.end.clamp(start, line_end);
        let width = self.text.get(start..end)?.trim_end().chars().count().max(1);
        Some(Location {
            line: self.text.get(..start)?.matches('\n').count() + 1,
            column,
            source_line: source_line.trim_end_matches('\r').to_string(),
            width,
        })
    }
}
