//! Parameter sweeps: a pipeline's `[sweep]` table expanded into one DAG where
//! only the swept stages and what is downstream of them are repeated per
//! combination; everything upstream is one stage, executed once.
//!
//! ```toml
//! [sweep.axes]                                  # a grid across axes (the cross product)
//! "qc.quality-cutoff" = [15, 20, 25]            # a list
//! "qc.min-length" = { range = [30, 60], step = 10 }        # 30, 40, 50, 60
//! "call.min-depth" = { log-range = [2, 32], count = 5 }    # 2, 4, 8, 16, 32
//!
//! [sweep]
//! zip = [["qc.quality-cutoff", "qc.min-length"]]   # these vary together (equal lengths)
//! filter = ["qc.min-length >= qc.quality-cutoff"]  # keep a combination only if every filter holds
//! combinations = [{ "qc.quality-cutoff" = 30, "call.min-depth" = 8 }]   # added as given
//! ```
//!
//! Combination `cN` runs stage `S` (swept or downstream of a swept stage) as
//! stage `S_cN`; its params are the stage's own with the combination's values
//! on top, and its inputs from upstream repeated stages are rewired to
//! `U_cN`. The pipeline's stages are checked once as declared; each copy's
//! params are then checked with its combination's values (`validate.rs`), so
//! expansion costs one param check per copy, not a whole declaration.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::diagnostic::Diagnostics;
use super::file::PipelineFile;

/// Most combinations one sweep may expand to.
pub const MAX_COMBINATIONS: usize = 1_000_000;

/// The `[sweep]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepDecl {
    #[serde(default)]
    pub axes: BTreeMap<Spanned<String>, Spanned<AxisDecl>>,
    #[serde(default)]
    pub zip: Vec<Spanned<Vec<String>>>,
    #[serde(default)]
    pub filter: Vec<Spanned<String>>,
    #[serde(default)]
    pub combinations: Vec<Spanned<BTreeMap<String, toml::Value>>>,
}

/// One axis: a list of values, or a generated range.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum AxisDecl {
    List(Vec<toml::Value>),
    Generated(RangeDecl),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RangeDecl {
    #[serde(default)]
    range: Option<[toml::Value; 2]>,
    #[serde(default)]
    step: Option<toml::Value>,
    #[serde(default)]
    log_range: Option<[f64; 2]>,
    #[serde(default)]
    count: Option<u32>,
}

/// One combination of a sweep, as recorded in the run record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Combination {
    /// `c1`, `c2`, … (zero-padded to one width).
    pub id: String,
    /// `stage.param` → value.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Pipeline stage → the stage that runs it for this combination (only the
    /// repeated ones; any other stage is shared by every combination).
    pub stages: BTreeMap<String, String>,
}

/// A sweep expanded: its combinations and, per repeated stage, its copies.
#[derive(Debug)]
pub struct Expansion {
    pub combinations: Vec<Combination>,
    /// Pipeline stage → its copies, in combination order.
    pub copies: HashMap<String, Vec<Copy>>,
    /// The `[sweep]` table's span: where a copy's swept values were written.
    pub span: Range<usize>,
}

/// One copy of a repeated stage.
#[derive(Debug)]
pub struct Copy {
    /// `S_cN`.
    pub id: String,
    /// The combination it was made for (an index into `combinations`).
    pub combination: usize,
    /// Param → the combination's value for it.
    pub overrides: Vec<(String, toml::Value)>,
}

impl Expansion {
    /// The stage copy `c` runs for `stage` (`stage` itself if it is shared).
    pub fn source<'a>(&'a self, c: &Copy, stage: &'a str) -> &'a str {
        self.combinations
            .get(c.combination)
            .and_then(|combo| combo.stages.get(stage))
            .map_or(stage, String::as_str)
    }
}

/// A `stage.param` axis with its values.
struct Axis {
    name: String,
    values: Vec<toml::Value>,
}

/// Expands `file`'s sweep (if any): its combinations and the copies of the
/// stages it repeats. Problems are reported to `d`, naming the sweep's line.
pub fn expand(file: &mut PipelineFile, d: &mut Diagnostics<'_>) -> Option<Expansion> {
    let sweep = file.sweep.take()?;
    let span = sweep.span();
    let sweep = sweep.into_inner();
    let table = combinations(&sweep, file, d)?;
    let rows = &table.rows;
    if rows.is_empty() {
        d.error(Some(span), "the sweep leaves no combinations", None);
        return None;
    }
    let keys: BTreeSet<&str> = (table.keys.iter().enumerate())
        .filter(|(i, _)| rows.iter().any(|r| r[*i].is_some()))
        .map(|(_, k)| k.as_str())
        .collect();
    let swept: BTreeSet<String> = keys
        .iter()
        .filter_map(|k| k.split_once('.'))
        .map(|(s, _)| s.to_owned())
        .collect();
    let repeated = downstream(file, &swept);
    let relevant: Vec<(String, Vec<usize>)> = relevant_keys(file, &repeated, &keys)
        .into_iter()
        .map(|(stage, keys)| {
            (
                stage,
                keys.into_iter().filter_map(|k| table.at(k)).collect(),
            )
        })
        .collect();
    let width = rows.len().to_string().len();
    let mut first: HashMap<(&str, String), String> = HashMap::new();
    let mut copies: HashMap<String, Vec<Copy>> = HashMap::new();
    let mut combos = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let id = format!("c{:0width$}", i + 1);
        let mut stages = BTreeMap::new();
        for (stage, keys) in &relevant {
            let copy = first
                .entry((stage.as_str(), copy_key(row, keys)))
                .or_insert_with(|| {
                    let copy = Copy {
                        id: repeated_id(stage, &id),
                        combination: i,
                        overrides: table.overrides(stage, row),
                    };
                    let id = copy.id.clone();
                    copies.entry(stage.clone()).or_default().push(copy);
                    id
                });
            stages.insert(stage.clone(), copy.clone());
        }
        combos.push(table.combination(id, row, stages));
    }
    if let Some(clash) = copies
        .values()
        .flatten()
        .find(|c| file.stages.contains_key(c.id.as_str()))
    {
        d.error(
            Some(span),
            format!(
                "the sweep's stage `{}` would clash with a stage of that name",
                clash.id
            ),
            Some("rename that stage".into()),
        );
        return None;
    }
    Some(Expansion {
        combinations: combos,
        copies,
        span,
    })
}

/// What decides whether two combinations share a copy of a stage: the
/// values of the sweep keys (indices into the table's keys) that reach it.
fn copy_key(row: &Row, keys: &[usize]) -> String {
    use std::fmt::Write as _;
    use toml::Value::{Boolean, Float, Integer, String as Text};
    let mut key = String::new();
    for v in keys.iter().map(|k| row.get(*k).and_then(Option::as_ref)) {
        // Writing to a String cannot fail.
        let _ = match v {
            Some(Integer(i)) => write!(key, "i{i}\u{1f}"),
            Some(Float(f)) => write!(key, "f{}\u{1f}", f.to_bits()),
            Some(Boolean(b)) => write!(key, "b{b}\u{1f}"),
            Some(Text(t)) => write!(key, "s{t:?}\u{1f}"),
            Some(other) => write!(key, "v{other}\u{1f}"),
            None => write!(key, "\u{1e}"),
        };
    }
    key
}

/// The id stage `stage` runs under for combination `combo`.
fn repeated_id(stage: &str, combo: &str) -> String {
    format!("{stage}_{combo}")
}

/// A combination's value for each of the table's keys (`None`: it has none).
type Row = Vec<Option<toml::Value>>;

/// Every combination of a sweep, one row each, over the sweep's keys.
struct Table {
    /// Every `stage.param` the sweep names, sorted.
    keys: Vec<String>,
    rows: Vec<Row>,
}

impl Table {
    /// The index of `key`.
    fn at(&self, key: &str) -> Option<usize> {
        self.keys.binary_search_by(|k| k.as_str().cmp(key)).ok()
    }

    /// `stage`'s own swept params in `row`, with their values.
    fn overrides(&self, stage: &str, row: &Row) -> Vec<(String, toml::Value)> {
        (self.keys.iter().zip(row))
            .filter_map(|(key, value)| match (key.split_once('.'), value) {
                (Some((s, param)), Some(value)) if s == stage => {
                    Some((param.to_owned(), value.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Combination `id`: `row`'s values and the copies it runs.
    fn combination(&self, id: String, row: &Row, stages: BTreeMap<String, String>) -> Combination {
        let params = (self.keys.iter().zip(row))
            .filter_map(|(k, v)| {
                let json = serde_json::to_value(v.as_ref()?).unwrap_or(serde_json::Value::Null);
                Some((k.clone(), json))
            })
            .collect();
        Combination { id, params, stages }
    }
}

/// For each repeated stage, the sweep keys whose values reach it: its own
/// params' and those of every repeated stage upstream. Two combinations
/// that agree on these share one copy of the stage (one execution).
fn relevant_keys<'k>(
    file: &PipelineFile,
    repeated: &BTreeSet<String>,
    keys: &BTreeSet<&'k str>,
) -> BTreeMap<String, BTreeSet<&'k str>> {
    let mut relevant: BTreeMap<String, BTreeSet<&'k str>> = repeated
        .iter()
        .map(|s| {
            let own = keys
                .iter()
                .copied()
                .filter(|k| k.split_once('.').is_some_and(|(st, _)| st == s));
            (s.clone(), own.collect())
        })
        .collect();
    loop {
        let mut changed = false;
        for (id, decl) in &file.stages {
            let Some(mine) = relevant.get(id.get_ref()).cloned() else {
                continue;
            };
            let upstream: BTreeSet<&str> = decl
                .get_ref()
                .inputs
                .values()
                .filter_map(|src| src.get_ref().split_once('.'))
                .filter_map(|(from, _)| relevant.get(from))
                .flatten()
                .copied()
                .collect();
            if !upstream.is_subset(&mine) {
                relevant
                    .entry(id.get_ref().clone())
                    .or_default()
                    .extend(upstream);
                changed = true;
            }
        }
        if !changed {
            return relevant;
        }
    }
}

/// Every combination's `stage.param` values: the grid (with zipped axes
/// moving together), filtered, then the explicit combinations.
fn combinations(sweep: &SweepDecl, file: &PipelineFile, d: &mut Diagnostics<'_>) -> Option<Table> {
    let before = d.list.len();
    let axes: Vec<Axis> = sweep
        .axes
        .iter()
        .filter_map(|(name, decl)| axis(name, decl, file, d))
        .collect();
    let groups = groups(&axes, &sweep.zip, d);
    for c in &sweep.combinations {
        for key in c.get_ref().keys() {
            param_key(key, c.span(), file, d);
        }
    }
    let names = axes.iter().map(|a| &a.name);
    let explicit_names = sweep.combinations.iter().flat_map(|c| c.get_ref().keys());
    let keys: BTreeSet<&String> = names.chain(explicit_names).collect();
    let mut table = Table {
        keys: keys.into_iter().cloned().collect(),
        rows: Vec::new(),
    };
    let filters: Vec<Filter> = sweep
        .filter
        .iter()
        .filter_map(|f| Filter::parse(f, &axes, &table, d))
        .collect();
    if d.list.len() > before {
        return None;
    }
    let explicit: Vec<Row> = (sweep.combinations.iter())
        .map(|c| {
            let mut row = vec![None; table.keys.len()];
            for (key, value) in c.get_ref() {
                if let Some(i) = table.at(key) {
                    row[i] = Some(value.clone());
                }
            }
            row
        })
        .collect();
    let total = groups
        .iter()
        .map(|g| g.len)
        .try_fold(1usize, usize::checked_mul);
    let total = total.filter(|n| *n + explicit.len() <= MAX_COMBINATIONS);
    let Some(total) = total else {
        d.error(
            None,
            format!("the sweep expands to more than {MAX_COMBINATIONS} combinations"),
            None,
        );
        return None;
    };
    let grid_size = if groups.is_empty() { 0 } else { total };
    let columns: Vec<Option<usize>> = axes.iter().map(|a| table.at(&a.name)).collect();
    let mut rows = Vec::with_capacity(grid_size + explicit.len());
    for index in 0..grid_size {
        let row = grid_row(index, &groups, &axes, &columns, table.keys.len());
        if filters.iter().all(|f| f.holds(&row)) {
            rows.push(row);
        }
    }
    rows.extend(explicit);
    table.rows = rows;
    Some(table)
}

/// Axes that move together: one zip group, or a lone axis.
struct Group {
    axes: Vec<usize>,
    len: usize,
}

fn groups(axes: &[Axis], zip: &[Spanned<Vec<String>>], d: &mut Diagnostics<'_>) -> Vec<Group> {
    let mut zipped = BTreeSet::new();
    let mut groups = Vec::new();
    for z in zip {
        let mut members = Vec::new();
        for name in z.get_ref() {
            match axes.iter().position(|a| &a.name == name) {
                Some(i) if zipped.insert(i) => members.push(i),
                Some(_) => d.error(
                    Some(z.span()),
                    format!("axis `{name}` is zipped twice"),
                    None,
                ),
                None => d.error(
                    Some(z.span()),
                    format!("zip names `{name}`, which is not an axis of [sweep.axes]"),
                    None,
                ),
            }
        }
        let lens: BTreeSet<usize> = members.iter().map(|&i| axes[i].values.len()).collect();
        if lens.len() > 1 {
            d.error(
                Some(z.span()),
                format!("zipped axes must have as many values each; they have {lens:?}"),
                None,
            );
        }
        if let Some(&len) = lens.iter().next() {
            groups.push(Group { axes: members, len });
        }
    }
    for (i, a) in axes.iter().enumerate() {
        if !zipped.contains(&i) {
            groups.push(Group {
                axes: vec![i],
                len: a.values.len(),
            });
        }
    }
    groups
}

/// Combination number `index` of the grid (the last group varies fastest).
/// `columns` gives each axis's index among the `width` keys of a row.
fn grid_row(
    mut index: usize,
    groups: &[Group],
    axes: &[Axis],
    columns: &[Option<usize>],
    width: usize,
) -> Row {
    let mut row = vec![None; width];
    for g in groups.iter().rev() {
        let at = index % g.len;
        index /= g.len;
        for &a in &g.axes {
            if let Some(column) = columns[a] {
                row[column] = Some(axes[a].values[at].clone());
            }
        }
    }
    row
}

/// Checks `key` is `stage.param` for a stage of the pipeline.
fn param_key(key: &str, span: Range<usize>, file: &PipelineFile, d: &mut Diagnostics<'_>) -> bool {
    match key.split_once('.') {
        Some((stage, param))
            if !param.is_empty() && file.stages.keys().any(|k| k.get_ref() == stage) =>
        {
            true
        }
        _ => {
            let stages: Vec<&str> = file.stages.keys().map(|k| k.get_ref().as_str()).collect();
            d.error(
                Some(span),
                format!("sweep key `{key}` must be `<stage>.<param>` of a stage of this pipeline"),
                Some(format!("its stages: {}", stages.join(", "))),
            );
            false
        }
    }
}

fn axis(
    name: &Spanned<String>,
    decl: &Spanned<AxisDecl>,
    file: &PipelineFile,
    d: &mut Diagnostics<'_>,
) -> Option<Axis> {
    if !param_key(name.get_ref(), name.span(), file, d) {
        return None;
    }
    let values = match decl.get_ref() {
        AxisDecl::List(v) => Ok(v.clone()),
        AxisDecl::Generated(r) => generate(r),
    };
    match values {
        Ok(v) if !v.is_empty() && v.len() <= MAX_COMBINATIONS => Some(Axis {
            name: name.get_ref().clone(),
            values: v,
        }),
        Ok(v) => {
            d.error(
                Some(decl.span()),
                format!(
                    "axis `{}` has {} values; 1 to {MAX_COMBINATIONS}",
                    name.get_ref(),
                    v.len()
                ),
                None,
            );
            None
        }
        Err(message) => {
            d.error(Some(decl.span()), format!("axis `{}`: {message}", name.get_ref()), Some("a list, { range = [from, to], step = s } or { log-range = [from, to], count = n }".into()));
            None
        }
    }
}

/// The values of `{ range, step }` (inclusive; integers when all three are)
/// or `{ log-range, count }` (geometric, both ends included).
fn generate(r: &RangeDecl) -> Result<Vec<toml::Value>, String> {
    match (&r.range, &r.step, &r.log_range, r.count) {
        (Some([from, to]), Some(step), None, None) => linear(from, to, step),
        (None, None, Some([from, to]), Some(count)) => geometric(*from, *to, count),
        _ => Err("give either `range` with `step`, or `log-range` with `count`".into()),
    }
}

fn linear(
    from: &toml::Value,
    to: &toml::Value,
    step: &toml::Value,
) -> Result<Vec<toml::Value>, String> {
    use toml::Value::{Float, Integer};
    let too_many = || format!("more than {MAX_COMBINATIONS} values");
    match (from, to, step) {
        (Integer(a), Integer(b), Integer(s)) if *s > 0 && a <= b => {
            let n = usize::try_from((b - a) / s).map_err(|_| too_many())?;
            if n >= MAX_COMBINATIONS {
                return Err(too_many());
            }
            Ok((0..=n as i64).map(|i| Integer(a + i * s)).collect())
        }
        _ => {
            let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
            let (Some(a), Some(b), Some(s)) = (num(from), num(to), num(step)) else {
                return Err("range ends and step must be numbers".into());
            };
            if !(s > 0.0 && a <= b && a.is_finite() && b.is_finite()) {
                return Err("a range needs from ≤ to and a step > 0".into());
            }
            let n = ((b - a) / s + 1e-9).floor();
            if n >= MAX_COMBINATIONS as f64 {
                return Err(too_many());
            }
            Ok((0..=n as usize).map(|i| Float(a + i as f64 * s)).collect())
        }
    }
}

/// `count` values from `from` to `to`, evenly spaced on a log scale; whole
/// numbers stay integers (so an integer param can be swept on a log scale).
fn geometric(from: f64, to: f64, count: u32) -> Result<Vec<toml::Value>, String> {
    if !(from > 0.0 && to >= from && to.is_finite() && count >= 1)
        || count as usize > MAX_COMBINATIONS
    {
        return Err("a log-range needs 0 < from ≤ to and a count from 1".into());
    }
    let ratio = if count == 1 {
        1.0
    } else {
        (to / from).powf(1.0 / f64::from(count - 1))
    };
    let mut values: Vec<toml::Value> = Vec::new();
    for i in 0..count {
        let x = from * ratio.powi(i as i32);
        let v = if (x - x.round()).abs() < 1e-9 * x.max(1.0) {
            toml::Value::Integer(x.round() as i64)
        } else {
            toml::Value::Float(x)
        };
        if values.last() != Some(&v) {
            values.push(v);
        }
    }
    Ok(values)
}

/// The swept stages and every stage downstream of one.
fn downstream(file: &PipelineFile, swept: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = swept.clone();
    loop {
        let before = out.len();
        for (id, decl) in &file.stages {
            let fed = decl
                .get_ref()
                .inputs
                .values()
                .filter_map(|src| src.get_ref().split_once('.'))
                .any(|(from, _)| out.contains(from));
            if fed {
                out.insert(id.get_ref().clone());
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// A filter: `LEFT OP RIGHT`, each side an axis or a number.
struct Filter {
    left: Operand,
    op: Op,
    right: Operand,
}

#[derive(Clone, Copy)]
enum Op {
    Le,
    Ge,
    Ne,
    Eq,
    Lt,
    Gt,
}

enum Operand {
    /// The axis's column in a row.
    Axis(usize),
    Number(f64),
}

impl Filter {
    /// Two-character operators first, so `<=` is not read as `<`.
    const OPS: [(&'static str, Op); 6] = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("!=", Op::Ne),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];

    fn parse(
        text: &Spanned<String>,
        axes: &[Axis],
        table: &Table,
        d: &mut Diagnostics<'_>,
    ) -> Option<Filter> {
        let s = text.get_ref();
        let operand = |text: &str| operand(text.trim(), axes, table);
        let parsed = Filter::OPS.iter().find_map(|(written, op)| {
            let (l, r) = s.split_once(written)?;
            Some((operand(l)?, *op, operand(r)?))
        });
        match parsed {
            Some((left, op, right)) => Some(Filter { left, op, right }),
            None => {
                d.error(Some(text.span()), format!("filter `{s}` is not `A OP B` over axes and numbers"), Some("OP is one of <, <=, >, >=, ==, !=; A and B name axes of [sweep.axes] or are numbers".into()));
                None
            }
        }
    }

    fn holds(&self, row: &Row) -> bool {
        let value = |o: &Operand| match o {
            Operand::Number(n) => Some(*n),
            Operand::Axis(a) => row
                .get(*a)
                .and_then(Option::as_ref)
                .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64))),
        };
        let (Some(l), Some(r)) = (value(&self.left), value(&self.right)) else {
            return true; // not a number on one side: the filter does not apply
        };
        match self.op {
            Op::Le => l <= r,
            Op::Ge => l >= r,
            Op::Ne => l != r,
            Op::Eq => l == r,
            Op::Lt => l < r,
            Op::Gt => l > r,
        }
    }
}

fn operand(text: &str, axes: &[Axis], table: &Table) -> Option<Operand> {
    if let Ok(n) = text.parse::<f64>() {
        return Some(Operand::Number(n));
    }
    if !axes.iter().any(|a| a.name == text) {
        return None;
    }
    table.at(text).map(Operand::Axis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::file;
    use std::path::Path;

    const STAGES: &str = r#"
[stages.qc]
module = "m"
params = { cutoff = 20 }
[stages.align]
module = "m"
inputs = { reads = "qc.out" }
[stages.call]
module = "m"
params = { depth = 3 }
inputs = { alignments = "align.out" }
[stages.consensus]
module = "m"
inputs = { variants = "call.out", reads = "qc.out" }
"#;

    /// Expands `sweep` over [`STAGES`]: the combinations, the stage ids, the problems.
    fn expand_text(sweep: &str) -> (Vec<Combination>, Vec<String>, Vec<String>) {
        let text = format!("{STAGES}\n{sweep}");
        let mut parsed = file::parse(&text).unwrap();
        let mut d = Diagnostics::new(Path::new("p.toml"), &text);
        let expansion = expand(&mut parsed, &mut d);
        let copies = expansion.as_ref().map(|e| &e.copies);
        let ids = parsed
            .stages
            .keys()
            .flat_map(|k| match copies.and_then(|c| c.get(k.get_ref())) {
                Some(copies) => copies.iter().map(|c| c.id.clone()).collect(),
                None => vec![k.get_ref().clone()],
            })
            .collect();
        (
            expansion.map(|e| e.combinations).unwrap_or_default(),
            ids,
            d.list.iter().map(|p| p.message.clone()).collect(),
        )
    }

    fn params(c: &Combination) -> String {
        c.params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_grid_repeats_only_what_the_swept_params_reach() {
        let (combos, ids, problems) = expand_text(
            "[sweep.axes]\n\"call.depth\" = [2, 4, 8]\n\"consensus.x\" = { range = [1, 2], step = 1 }\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(combos.len(), 6);
        assert_eq!(params(&combos[0]), "call.depth=2 consensus.x=1");
        assert_eq!(params(&combos[1]), "call.depth=2 consensus.x=2");
        assert_eq!(params(&combos[5]), "call.depth=8 consensus.x=2");
        // qc and align once; call once per depth (3); consensus once per combination (6).
        let count = |p: &str| ids.iter().filter(|i| i.starts_with(p)).count();
        assert_eq!(
            (
                count("qc"),
                count("align"),
                count("call"),
                count("consensus")
            ),
            (1, 1, 3, 6),
            "{ids:?}"
        );
        // c1 and c2 share call (same depth); consensus of c2 reads that shared call.
        assert_eq!(combos[1].stages["call"], "call_c1");
        assert_eq!(combos[1].stages["consensus"], "consensus_c2");
        assert!(!combos[0].stages.contains_key("qc"));
    }

    #[test]
    fn a_copy_carries_its_combinations_values_and_reads_its_upstream_copy() {
        let text =
            format!("{STAGES}\n[sweep.axes]\n\"call.depth\" = [2, 4]\n\"consensus.x\" = [7, 8]\n");
        let mut parsed = file::parse(&text).unwrap();
        let mut d = Diagnostics::new(Path::new("p.toml"), &text);
        let e = expand(&mut parsed, &mut d).unwrap();
        let calls: Vec<_> = e.copies["call"]
            .iter()
            .map(|c| (c.id.as_str(), c.combination, c.overrides.clone()))
            .collect();
        let depth = |n| vec![("depth".to_owned(), toml::Value::Integer(n))];
        assert_eq!(calls, [("call_c1", 0, depth(2)), ("call_c3", 2, depth(4))]);
        let last = &e.copies["consensus"][3];
        assert_eq!(last.id, "consensus_c4");
        assert_eq!(last.overrides, [("x".to_owned(), toml::Value::Integer(8))]);
        assert_eq!(e.source(last, "call"), "call_c3");
        assert_eq!(e.source(last, "qc"), "qc");
        assert!(!e.copies.contains_key("qc") && !e.copies.contains_key("align"));
    }

    #[test]
    fn zip_filter_log_range_and_explicit_combinations() {
        let (combos, _, problems) = expand_text(
            "[sweep.axes]\n\"qc.cutoff\" = [10, 20, 30]\n\"call.depth\" = [1, 2, 3]\n\
             \"consensus.x\" = { log-range = [1, 100], count = 3 }\n\
             [sweep]\nzip = [[\"qc.cutoff\", \"call.depth\"]]\nfilter = [\"consensus.x >= qc.cutoff\"]\n\
             combinations = [{ \"qc.cutoff\" = 5 }]\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let all: Vec<String> = combos.iter().map(params).collect();
        assert_eq!(
            all,
            [
                "call.depth=1 consensus.x=10 qc.cutoff=10",
                "call.depth=1 consensus.x=100 qc.cutoff=10",
                "call.depth=2 consensus.x=100 qc.cutoff=20",
                "call.depth=3 consensus.x=100 qc.cutoff=30",
                "qc.cutoff=5",
            ]
        );
    }

    #[test]
    fn bad_sweeps_are_named() {
        for (sweep, expected) in [
            (
                "[sweep.axes]\n\"nope.x\" = [1]\n",
                "must be `<stage>.<param>`",
            ),
            ("[sweep.axes]\n\"qc.cutoff\" = []\n", "has 0 values"),
            (
                "[sweep.axes]\n\"qc.cutoff\" = { range = [5, 1], step = 1 }\n",
                "from ≤ to",
            ),
            (
                "[sweep.axes]\n\"qc.cutoff\" = [1, 2]\n\"call.depth\" = [1]\n[sweep]\nzip = [[\"qc.cutoff\", \"call.depth\"]]\n",
                "as many values",
            ),
            (
                "[sweep.axes]\n\"qc.cutoff\" = [1]\n[sweep]\nfilter = [\"qc.cutoff ~ 3\"]\n",
                "is not `A OP B`",
            ),
            (
                "[sweep.axes]\n\"qc.cutoff\" = [1]\n[sweep]\nfilter = [\"qc.cutoff > 3\"]\n",
                "leaves no combinations",
            ),
            (
                "[sweep.axes]\n\"qc.cutoff\" = { range = [0, 2000000], step = 1 }\n",
                "more than 1000000",
            ),
        ] {
            let (_, _, problems) = expand_text(sweep);
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{sweep}: {problems:?}"
            );
        }
    }

    #[test]
    fn a_hundred_thousand_combinations_expand() {
        let (combos, ids, problems) = expand_text(
            "[sweep.axes]\n\"call.depth\" = { range = [1, 1000], step = 1 }\n\"consensus.x\" = { range = [1, 100], step = 1 }\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(combos.len(), 100_000);
        assert_eq!(ids.len(), 2 + 1000 + 100_000);
    }
}
