//! Sanity checks on a manifest a stage returns from `describe`.

use std::collections::HashSet;

use crate::bindings::{Manifest, ParamKind, ParamSpec, Value};
use crate::params::kind_name;

/// Rejects a manifest the host could not honour: empty names, duplicate
/// params or ports, defaults of the wrong kind or outside their range/choices.
pub(crate) fn check_manifest(m: &Manifest) -> Result<(), String> {
    if m.name.trim().is_empty() || m.version.trim().is_empty() {
        return Err("name and version must not be empty".to_owned());
    }
    unique("param", m.params.iter().map(|p| p.name.as_str()))?;
    unique("input port", m.inputs.iter().map(|p| p.name.as_str()))?;
    unique("output port", m.outputs.iter().map(|p| p.name.as_str()))?;
    unique("error kind", m.errors.iter().map(|e| e.name.as_str()))?;
    for p in &m.params {
        if let Some(d) = &p.default {
            check_default(p, d)?;
        }
        if p.kind == ParamKind::Choice && p.choices.is_empty() {
            return Err(format!("choice param `{}` lists no choices", p.name));
        }
    }
    Ok(())
}

fn unique<'a>(what: &str, names: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = HashSet::new();
    for n in names {
        if n.trim().is_empty() {
            return Err(format!("a {what} has an empty name"));
        }
        if !seen.insert(n) {
            return Err(format!("{what} `{n}` is declared twice"));
        }
    }
    Ok(())
}

fn check_default(p: &ParamSpec, d: &Value) -> Result<(), String> {
    let ok = matches!(
        (p.kind, d),
        (ParamKind::Boolean, Value::Boolean(_))
            | (ParamKind::Integer, Value::Integer(_))
            | (ParamKind::Float, Value::Float(_))
            | (ParamKind::Text, Value::Text(_))
            | (ParamKind::IntegerList, Value::IntegerList(_))
            | (ParamKind::FloatList, Value::FloatList(_))
            | (ParamKind::TextList, Value::TextList(_))
    ) || matches!((p.kind, d), (ParamKind::Choice, Value::Text(s)) if p.choices.contains(s));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "default of `{}` is not a valid {}",
            p.name,
            kind_name(p.kind)
        ))
    }
}
