//! Checking params against a manifest and putting them in canonical form.
//!
//! The canonical form is a JSON object with every declared param (defaults
//! filled in), keys sorted, plain JSON values; its SHA-256 is the params digest.

use std::fmt;

use serde::Serialize;

use crate::stage::bindings::{Param, ParamKind, ParamSpec, Value};
use crate::store::digest::Digest;

/// A param value as a user gave it, before it is checked.
#[derive(Debug, Clone, PartialEq)]
pub enum RawParam {
    /// From a command line `k=v`: parsed according to the param's kind.
    Text(String),
    /// From a structured file or API.
    Json(serde_json::Value),
}

/// One thing wrong with the given params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamProblem {
    pub param: String,
    pub problem: String,
}

impl fmt::Display for ParamProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "param `{}`: {}", self.param, self.problem)
    }
}

/// A complete, checked set of params in canonical order. The default is the
/// empty set: what a stage that declares no params takes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamSet {
    /// Sorted by name, each name once (a sweep holds one set per copy: a
    /// vector is one allocation where a map is a node of eleven slots).
    values: Vec<(String, Value)>,
}

impl ParamSet {
    /// Checks `given` against `specs`, filling defaults. Reports every problem at once.
    pub fn resolve(
        specs: &[ParamSpec],
        given: &[(String, RawParam)],
    ) -> Result<ParamSet, Vec<ParamProblem>> {
        let mut problems = Vec::new();
        let mut values = Vec::with_capacity(specs.len());
        let mut problem = |param: &str, problem: String| {
            problems.push(ParamProblem {
                param: param.to_owned(),
                problem,
            })
        };
        for (i, (name, raw)) in given.iter().enumerate() {
            if given[..i].iter().any(|(n, _)| n == name) {
                problem(name, "given more than once".to_owned());
                continue;
            }
            let Some(spec) = specs.iter().find(|s| &s.name == name) else {
                let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                problem(
                    name,
                    format!("unknown param; this stage takes: {}", known.join(", ")),
                );
                continue;
            };
            match parse(spec, raw).and_then(|v| check(spec, v)) {
                Ok(v) => values.push((name.clone(), v)),
                Err(msg) => problem(name, msg),
            }
        }
        for spec in specs {
            if given.iter().any(|(n, _)| n == &spec.name) {
                continue;
            }
            match &spec.default {
                Some(d) => values.push((spec.name.clone(), d.clone())),
                None => problem(
                    &spec.name,
                    format!("required ({}) and not given", kind_name(spec.kind)),
                ),
            }
        }
        if problems.is_empty() {
            values.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
            Ok(ParamSet { values })
        } else {
            Err(problems)
        }
    }

    /// The canonical JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let map = self
            .values
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect();
        serde_json::Value::Object(map)
    }

    /// SHA-256 of the canonical JSON bytes.
    pub fn digest(&self) -> Digest {
        Digest::of(self.to_json().to_string().as_bytes())
    }

    /// The params as handed to the stage.
    pub fn to_wit(&self) -> Vec<Param> {
        self.values
            .iter()
            .map(|(name, value)| Param {
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    }
}

/// A param kind in words: `integer`, `text list`, …
pub fn kind_name(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::Boolean => "boolean",
        ParamKind::Integer => "integer",
        ParamKind::Float => "float",
        ParamKind::Text => "text",
        ParamKind::Choice => "choice",
        ParamKind::IntegerList => "integer list",
        ParamKind::FloatList => "float list",
        ParamKind::TextList => "text list",
    }
}

pub(crate) fn value_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Boolean(b) => J::Bool(*b),
        Value::Integer(i) => J::from(*i),
        Value::Float(f) => J::from(*f),
        Value::Text(s) => J::from(s.as_str()),
        Value::IntegerList(l) => J::from(l.clone()),
        Value::FloatList(l) => J::from(l.clone()),
        Value::TextList(l) => J::from(l.clone()),
    }
}

fn parse(spec: &ParamSpec, raw: &RawParam) -> Result<Value, String> {
    match raw {
        RawParam::Text(s) => parse_text(spec.kind, s),
        RawParam::Json(j) => parse_json(spec.kind, j),
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err(format!("expected a boolean (true/false), got `{s}`")),
    }
}

fn parse_int(s: &str) -> Result<i64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("expected an integer, got `{s}`"))
}

fn parse_float(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        _ => Err(format!("expected a finite number, got `{s}`")),
    }
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty())
}

fn parse_text(kind: ParamKind, s: &str) -> Result<Value, String> {
    Ok(match kind {
        ParamKind::Boolean => Value::Boolean(parse_bool(s)?),
        ParamKind::Integer => Value::Integer(parse_int(s)?),
        ParamKind::Float => Value::Float(parse_float(s)?),
        ParamKind::Text | ParamKind::Choice => Value::Text(s.to_owned()),
        ParamKind::IntegerList => {
            Value::IntegerList(split_list(s).map(parse_int).collect::<Result<_, _>>()?)
        }
        ParamKind::FloatList => {
            Value::FloatList(split_list(s).map(parse_float).collect::<Result<_, _>>()?)
        }
        ParamKind::TextList => Value::TextList(split_list(s).map(str::to_owned).collect()),
    })
}

fn parse_json(kind: ParamKind, j: &serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    let int = |j: &J| {
        j.as_i64()
            .ok_or_else(|| format!("expected an integer, got {j}"))
    };
    let float = |j: &J| match j.as_f64() {
        Some(f) if f.is_finite() => Ok(f),
        _ => Err(format!("expected a number, got {j}")),
    };
    let text = |j: &J| {
        j.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("expected a string, got {j}"))
    };
    let list = |j: &J| {
        j.as_array()
            .cloned()
            .ok_or_else(|| format!("expected a list, got {j}"))
    };
    Ok(match kind {
        ParamKind::Boolean => Value::Boolean(
            j.as_bool()
                .ok_or_else(|| format!("expected a boolean, got {j}"))?,
        ),
        ParamKind::Integer => Value::Integer(int(j)?),
        ParamKind::Float => Value::Float(float(j)?),
        ParamKind::Text | ParamKind::Choice => Value::Text(text(j)?),
        ParamKind::IntegerList => {
            Value::IntegerList(list(j)?.iter().map(int).collect::<Result<_, _>>()?)
        }
        ParamKind::FloatList => {
            Value::FloatList(list(j)?.iter().map(float).collect::<Result<_, _>>()?)
        }
        ParamKind::TextList => {
            Value::TextList(list(j)?.iter().map(text).collect::<Result<_, _>>()?)
        }
    })
}

/// Range and choice checks.
fn check(spec: &ParamSpec, v: Value) -> Result<Value, String> {
    let in_range = |x: f64| -> Result<(), String> {
        if let Some(min) = spec.min
            && x < min
        {
            return Err(format!("{x} is below the minimum {min}"));
        }
        if let Some(max) = spec.max
            && x > max
        {
            return Err(format!("{x} is above the maximum {max}"));
        }
        Ok(())
    };
    match &v {
        Value::Integer(i) => in_range(*i as f64)?,
        Value::Float(f) => in_range(*f)?,
        Value::IntegerList(l) => l.iter().try_for_each(|i| in_range(*i as f64))?,
        Value::FloatList(l) => l.iter().try_for_each(|f| in_range(*f))?,
        Value::Text(s) if spec.kind == ParamKind::Choice && !spec.choices.contains(s) => {
            return Err(format!("`{s}` is not one of: {}", spec.choices.join(", ")));
        }
        _ => {}
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, kind: ParamKind, default: Option<Value>) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            kind,
            doc: String::new(),
            default,
            min: Some(0.0),
            max: Some(100.0),
            choices: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn defaults_fill_and_digest_is_order_independent() {
        let specs = [
            spec("q", ParamKind::Integer, Some(Value::Integer(20))),
            spec("mode", ParamKind::Choice, Some(Value::Text("a".into()))),
        ];
        let a = ParamSet::resolve(&specs, &[("q".into(), RawParam::Text("20".into()))]).unwrap();
        let b = ParamSet::resolve(&specs, &[("mode".into(), RawParam::Json("a".into()))]).unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.to_json().to_string(), r#"{"mode":"a","q":20}"#);
    }

    #[test]
    fn every_problem_is_reported() {
        let specs = [
            spec("q", ParamKind::Integer, None),
            spec("f", ParamKind::FloatList, Some(Value::FloatList(vec![]))),
            spec("mode", ParamKind::Choice, None),
        ];
        let given = [
            ("f".into(), RawParam::Text("1.5,oops".into())),
            ("mode".into(), RawParam::Text("c".into())),
            ("zzz".into(), RawParam::Text("1".into())),
        ];
        let problems = ParamSet::resolve(&specs, &given).unwrap_err();
        let names: Vec<&str> = problems.iter().map(|p| p.param.as_str()).collect();
        assert_eq!(names, ["f", "mode", "zzz", "q"]);
        assert!(problems[0].problem.contains("oops"));
        assert!(problems[2].problem.contains("q, f, mode"));
    }

    #[test]
    fn range_is_checked() {
        let specs = [spec("q", ParamKind::Integer, None)];
        let p =
            ParamSet::resolve(&specs, &[("q".into(), RawParam::Text("101".into()))]).unwrap_err();
        assert!(p[0].problem.contains("above the maximum 100"));
    }
}
