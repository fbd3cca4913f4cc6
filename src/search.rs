//! Ranked full-text search over tools (BM25): names, titles, descriptions and argument names.
//! Pure: segments (one per upstream) know tools by exposed name and never copy the JSON; it
//! knows nothing of servers or sessions.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

/// BM25 parameters (the usual ones).
const K1: f32 = 1.2;
const B: f32 = 0.75;

/// How much a word counts by where it is: a name says more than a description.
const NAME_WEIGHT: u16 = 3;
const TITLE_WEIGHT: u16 = 2;
const ARG_WEIGHT: u16 = 2;

/// One upstream's part of the index: the words of its tools, each tool known by its exposed
/// name (no JSON is kept). Built once per change of that upstream's tools and shared by the
/// catalogs that follow until its tools change again.
#[derive(Debug, Default)]
pub struct Segment {
    postings: HashMap<Box<str>, Vec<(u32, u16)>>,
    doc_len: Vec<u32>,
    names: Vec<Box<str>>,
    total_len: u64,
}

/// The fields of a tool definition the index reads, borrowed from its text.
#[derive(serde::Deserialize)]
struct Doc<'a> {
    #[serde(borrow, default)]
    name: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    title: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    description: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default, rename = "inputSchema")]
    input_schema: Option<Schema<'a>>,
}

#[derive(serde::Deserialize)]
struct Schema<'a> {
    #[serde(borrow, default)]
    properties: std::collections::BTreeMap<std::borrow::Cow<'a, str>, Arg<'a>>,
}

#[derive(serde::Deserialize)]
struct Arg<'a> {
    #[serde(borrow, default)]
    description: Option<std::borrow::Cow<'a, str>>,
}

/// Segments searched together, with the collection's statistics (BM25 needs them whole).
#[derive(Debug, Default)]
pub struct Index {
    segments: Vec<Arc<Segment>>,
    docs: usize,
    avg_len: f32,
}

/// Lower-case words of `text`: runs of letters and digits, camelCase split (`getTime` → `get`,
/// `time`).
pub fn words(text: &str, mut f: impl FnMut(String)) {
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower && !cur.is_empty() {
                f(std::mem::take(&mut cur));
            }
            prev_lower = c.is_lowercase() || c.is_numeric();
            cur.extend(c.to_lowercase());
        } else {
            prev_lower = false;
            if !cur.is_empty() {
                f(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        f(cur);
    }
}

impl Segment {
    /// Indexes `tools` (MCP tool definitions), each under its `name`.
    pub fn build<'a>(tools: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut seg = Segment::default();
        for t in tools {
            let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default();
            let props = t
                .get("inputSchema")
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object);
            let args = props.into_iter().flatten().map(|(arg, schema)| {
                (
                    arg.as_str(),
                    schema.get("description").and_then(Value::as_str),
                )
            });
            seg.add(s("name"), s("title"), s("description"), args);
        }
        seg
    }

    /// Indexes tool definitions given as JSON text, read in place (no tree is built); a text
    /// whose fields do not have the usual types is read as a `Value`.
    pub fn build_texts<'a>(tools: impl IntoIterator<Item = &'a str>) -> Self {
        let mut seg = Segment::default();
        for text in tools {
            match serde_json::from_str::<Doc<'_>>(text) {
                Ok(d) => {
                    let args = d
                        .input_schema
                        .into_iter()
                        .flat_map(|s| s.properties)
                        .map(|(arg, schema)| (arg, schema.description));
                    let args: Vec<(std::borrow::Cow<'_, str>, Option<std::borrow::Cow<'_, str>>)> =
                        args.collect();
                    seg.add(
                        d.name.as_deref().unwrap_or_default(),
                        d.title.as_deref().unwrap_or_default(),
                        d.description.as_deref().unwrap_or_default(),
                        args.iter().map(|(a, d)| (a.as_ref(), d.as_deref())),
                    );
                }
                Err(_) => {
                    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                    let one = Segment::build([&v]);
                    seg.absorb(one);
                }
            }
        }
        seg
    }

    /// Appends the (one-tool) segment `other`.
    fn absorb(&mut self, other: Segment) {
        let base = u32::try_from(self.doc_len.len()).unwrap_or(u32::MAX);
        for (word, list) in other.postings {
            let entry = self.postings.entry(word).or_default();
            entry.extend(list.into_iter().map(|(d, tf)| (d.saturating_add(base), tf)));
        }
        self.doc_len.extend(other.doc_len);
        self.names.extend(other.names);
        self.total_len += other.total_len;
    }

    /// Indexes one tool.
    fn add<'a>(
        &mut self,
        name: &str,
        title: &str,
        description: &str,
        args: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) {
        let doc = u32::try_from(self.doc_len.len()).unwrap_or(u32::MAX);
        let mut len = 0u32;
        let postings = &mut self.postings;
        let mut add = |text: &str, w: u16| {
            words(text, |word| {
                len += u32::from(w);
                // Postings are built doc by doc: this doc's entry, if any, is the last.
                match postings.get_mut(word.as_str()) {
                    Some(list) => match list.last_mut() {
                        Some((d, tf)) if *d == doc => *tf = tf.saturating_add(w),
                        _ => list.push((doc, w)),
                    },
                    None => {
                        postings.insert(word.into_boxed_str(), vec![(doc, w)]);
                    }
                }
            });
        };
        add(name, NAME_WEIGHT);
        add(title, TITLE_WEIGHT);
        add(description, 1);
        for (arg, d) in args {
            add(arg, ARG_WEIGHT);
            if let Some(d) = d {
                add(d, 1);
            }
        }
        self.doc_len.push(len);
        self.total_len += u64::from(len);
        self.names.push(name.into());
    }

    /// The exposed names of the tools, in the order indexed.
    pub fn names(&self) -> &[Box<str>] {
        &self.names
    }
}

impl Index {
    /// One index over `tools` (a single segment).
    pub fn build(tools: &[Value]) -> Self {
        Self::from_segments(vec![Arc::new(Segment::build(tools))])
    }

    /// An index over segments (each upstream's), with the statistics of them all.
    pub fn from_segments(segments: Vec<Arc<Segment>>) -> Self {
        let docs: usize = segments.iter().map(|s| s.doc_len.len()).sum();
        let total: u64 = segments.iter().map(|s| s.total_len).sum();
        let avg_len = if docs == 0 {
            1.0
        } else {
            total as f32 / docs as f32
        };
        Index {
            segments,
            docs,
            avg_len: avg_len.max(1.0),
        }
    }

    pub fn len(&self) -> usize {
        self.docs
    }

    pub fn is_empty(&self) -> bool {
        self.docs == 0
    }

    /// The exposed names of the best `limit` tools for `query`, best first, with their scores;
    /// ties by name.
    pub fn search(&self, query: &str, limit: usize) -> Vec<(&str, f32)> {
        let n = self.docs as f32;
        let mut terms = Vec::new();
        words(query, |w| {
            if !terms.contains(&w) {
                terms.push(w);
            }
        });
        // Document frequencies over every segment.
        let idf: Vec<f32> = terms
            .iter()
            .map(|t| {
                let df: usize = self
                    .segments
                    .iter()
                    .filter_map(|s| s.postings.get(t.as_str()))
                    .map(Vec::len)
                    .sum();
                let df = df as f32;
                (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
            })
            .collect();
        let mut hits: Vec<(&str, f32)> = Vec::new();
        for seg in &self.segments {
            // Dense scores: one float per tool is cheaper than hashing every posting.
            let mut scores = vec![0f32; seg.doc_len.len()];
            let mut touched = Vec::new();
            for (term, idf) in terms.iter().zip(&idf) {
                let Some(list) = seg.postings.get(term.as_str()) else {
                    continue;
                };
                for &(doc, tf) in list {
                    let tf = f32::from(tf);
                    let dl = seg.doc_len.get(doc as usize).copied().unwrap_or(0) as f32;
                    let s = idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * dl / self.avg_len));
                    if let Some(x) = scores.get_mut(doc as usize) {
                        if *x == 0.0 {
                            touched.push(doc as usize);
                        }
                        *x += s;
                    }
                }
            }
            hits.extend(
                touched
                    .into_iter()
                    .filter_map(|d| Some((seg.names.get(d)?.as_ref(), scores[d]))),
            );
        }
        let by_score = |a: &(&str, f32), b: &(&str, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(b.0));
        if hits.len() > limit && limit > 0 {
            hits.select_nth_unstable_by(limit - 1, by_score);
            hits.truncate(limit);
        }
        hits.sort_by(by_score);
        hits.truncate(limit);
        hits
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn words_split_on_punctuation_and_camel_case() {
        let mut w = Vec::new();
        words("github__createIssue: Open a NEW issue (v2)", |x| w.push(x));
        assert_eq!(
            w,
            ["github", "create", "issue", "open", "a", "new", "issue", "v2"]
        );
    }

    #[test]
    fn a_distinctive_word_ranks_its_tool_first_and_names_weigh_more() {
        let tools = vec![
            json!({"name": "a__get_time", "description": "Returns the current time"}),
            json!({"name": "b__weather", "description": "Forecast for a city; mentions time zones"}),
            json!({"name": "c__convert", "description": "Converts units", "inputSchema": {"properties": {"timezone": {"type": "string"}}}}),
            json!({"name": "d__zebra_stripes", "description": "Counts stripes"}),
        ];
        let idx = Index::build(&tools);
        assert_eq!(idx.search("zebra", 5)[0].0, "d__zebra_stripes");
        let time = idx.search("time", 5);
        assert_eq!(time[0].0, "a__get_time", "{time:?}");
        assert_eq!(idx.search("timezone", 5)[0].0, "c__convert");
        // Read from the definitions' text, the index is the same.
        let texts: Vec<String> = tools.iter().map(|t| t.to_string()).collect();
        let from_text = Index::from_segments(vec![Arc::new(Segment::build_texts(
            texts.iter().map(String::as_str),
        ))]);
        assert_eq!(from_text.search("time", 5), idx.search("time", 5));
        assert_eq!(from_text.search("timezone", 5), idx.search("timezone", 5));
        // The same tools in two segments rank the same.
        let split = Index::from_segments(vec![
            Arc::new(Segment::build(&tools[..2])),
            Arc::new(Segment::build(&tools[2..])),
        ]);
        assert_eq!(split.search("time", 5), time);
        assert!(idx.search("nothing-matches-this", 5).is_empty());
        assert_eq!(idx.search("time", 1).len(), 1);
    }
}
