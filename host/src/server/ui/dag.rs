//! A run's DAG on its page: which stage reads which (from the submitted pipeline file), laid
//! out in columns by depth, each stage a box with every sample's live state.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::layout::{badge, escape};
use crate::server::views::StageView;

/// Stage → the stages it reads from, as the pipeline file's `inputs` say
/// (`"other.port"`; `inputs.NAME` are the run's own inputs, not stages).
pub fn edges(pipeline: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let Ok(file) = toml::from_str::<toml::Table>(pipeline) else {
        return out;
    };
    let Some(stages) = file.get("stages").and_then(toml::Value::as_table) else {
        return out;
    };
    for (id, decl) in stages {
        let mut from: Vec<String> = decl
            .get("inputs")
            .and_then(toml::Value::as_table)
            .map(|inputs| {
                inputs
                    .values()
                    .filter_map(toml::Value::as_str)
                    .filter_map(|r| r.split_once('.').map(|(s, _)| s.to_owned()))
                    .filter(|s| s != "inputs" && stages.contains_key(s))
                    .collect()
            })
            .unwrap_or_default();
        from.sort();
        from.dedup();
        out.insert(id.clone(), from);
    }
    out
}

/// The length of the longest path from a stage with no stage inputs to `stage`.
fn depth(stage: &str, edges: &BTreeMap<String, Vec<String>>, seen: &mut Vec<String>) -> usize {
    if seen.iter().any(|s| s == stage) {
        return 0; // a cycle: validation refuses those; draw it flat
    }
    seen.push(stage.to_owned());
    let d = edges.get(stage).map_or(0, |from| {
        from.iter()
            .map(|f| depth(f, edges, seen) + 1)
            .max()
            .unwrap_or(0)
    });
    seen.pop();
    d
}

/// The base stage of an expanded sweep stage (`call[depth=3]` → `call`).
fn base(stage: &str) -> &str {
    stage.split('[').next().unwrap_or(stage)
}

/// The DAG: columns by depth, a box per stage, a badge per sample (keyed
/// `sample/stage` for the page's script).
pub fn render(pipeline: &str, stages: &[StageView]) -> String {
    let edges = edges(pipeline);
    let mut columns: BTreeMap<usize, BTreeMap<&str, Vec<&StageView>>> = BTreeMap::new();
    for s in stages {
        let d = depth(base(&s.stage), &edges, &mut Vec::new());
        columns
            .entry(d)
            .or_default()
            .entry(&s.stage)
            .or_default()
            .push(s);
    }
    let mut out = String::from("<div class=\"dag\" id=\"dag\">");
    for boxes in columns.values() {
        out.push_str("<div class=\"col\">");
        for (stage, samples) in boxes {
            let status = samples.first().map_or("pending", |s| s.status.as_str());
            let _ = write!(
                out,
                "<div class=\"node {status}\" data-node=\"{}\"><strong>{}</strong>",
                escape(stage),
                escape(stage)
            );
            if let Some(from) = edges.get(base(stage)).filter(|f| !f.is_empty()) {
                let _ = write!(
                    out,
                    "<div class=\"note\">← {}</div>",
                    escape(&from.join(", "))
                );
            }
            for s in samples {
                let key = format!("{}/{}", s.sample, s.stage);
                let _ = write!(
                    out,
                    "<div>{} {}</div>",
                    escape(&s.sample),
                    badge(s.status.as_str(), &key)
                );
            }
            out.push_str("</div>");
        }
        out.push_str("</div>");
    }
    out.push_str("</div>");
    out
}
