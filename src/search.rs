//! Ranked full-text search over tools (BM25): names, titles, descriptions and argument names.
//! Pure: it indexes the catalog's tool list by position and never copies the JSON; it knows
//! nothing of servers or sessions.

use std::collections::HashMap;

use serde_json::Value;

/// BM25 parameters (the usual ones).
const K1: f32 = 1.2;
const B: f32 = 0.75;

/// How much a word counts by where it is: a name says more than a description.
const NAME_WEIGHT: u16 = 3;
const TITLE_WEIGHT: u16 = 2;
const ARG_WEIGHT: u16 = 2;

/// An inverted index over a list of tools; documents are the list's positions.
#[derive(Debug, Default)]
pub struct Index {
    postings: HashMap<Box<str>, Vec<(u32, u16)>>,
    doc_len: Vec<u32>,
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

impl Index {
    /// Indexes `tools` (MCP tool definitions) by position.
    pub fn build(tools: &[Value]) -> Self {
        let mut postings: HashMap<Box<str>, Vec<(u32, u16)>> = HashMap::new();
        let mut doc_len = Vec::with_capacity(tools.len());
        for (i, t) in tools.iter().enumerate() {
            let doc = u32::try_from(i).unwrap_or(u32::MAX);
            let mut len = 0u32;
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
            let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default();
            add(s("name"), NAME_WEIGHT);
            add(s("title"), TITLE_WEIGHT);
            add(s("description"), 1);
            if let Some(props) = t
                .get("inputSchema")
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
            {
                for (arg, schema) in props {
                    add(arg, ARG_WEIGHT);
                    if let Some(d) = schema.get("description").and_then(Value::as_str) {
                        add(d, 1);
                    }
                }
            }
            doc_len.push(len);
        }
        let avg_len = if doc_len.is_empty() {
            1.0
        } else {
            doc_len.iter().map(|&l| l as f32).sum::<f32>() / doc_len.len() as f32
        };
        Index {
            postings,
            doc_len,
            avg_len: avg_len.max(1.0),
        }
    }

    pub fn len(&self) -> usize {
        self.doc_len.len()
    }

    pub fn is_empty(&self) -> bool {
        self.doc_len.is_empty()
    }

    /// The best `limit` documents for `query`, best first, with their scores; ties by position.
    pub fn search(&self, query: &str, limit: usize) -> Vec<(usize, f32)> {
        let n = self.doc_len.len() as f32;
        let mut terms = Vec::new();
        words(query, |w| {
            if !terms.contains(&w) {
                terms.push(w);
            }
        });
        // Dense scores: one float per tool is cheaper than hashing every posting.
        let mut scores = vec![0f32; self.doc_len.len()];
        let mut touched = Vec::new();
        for term in &terms {
            let Some(list) = self.postings.get(term.as_str()) else {
                continue;
            };
            let df = list.len() as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for &(doc, tf) in list {
                let tf = f32::from(tf);
                let dl = self.doc_len.get(doc as usize).copied().unwrap_or(0) as f32;
                let s = idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * dl / self.avg_len));
                if let Some(x) = scores.get_mut(doc as usize) {
                    if *x == 0.0 {
                        touched.push(doc as usize);
                    }
                    *x += s;
                }
            }
        }
        let mut hits: Vec<(usize, f32)> = touched.into_iter().map(|d| (d, scores[d])).collect();
        let by_score = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
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
        assert_eq!(idx.search("zebra", 5)[0].0, 3);
        let time = idx.search("time", 5);
        assert_eq!(time[0].0, 0, "{time:?}");
        assert_eq!(idx.search("timezone", 5)[0].0, 2);
        assert!(idx.search("nothing-matches-this", 5).is_empty());
        assert_eq!(idx.search("time", 1).len(), 1);
    }
}
