//! Checks on a manifest a stage returns from `describe`: untrusted input.
//!
//! Names (stage, params, ports, formats, error kinds) become file names
//! (`petri run --output-dir` writes `PORT.FORMAT`), pipeline keys and
//! terminal output, so they are held to a safe charset; every list and text
//! is capped; numeric bounds and defaults must be finite and consistent.

use std::collections::HashSet;

use crate::stage::bindings::{Manifest, ParamKind, ParamSpec, PortSpec, Value};
use crate::stage::params::kind_name;

/// Most params, input ports, output ports and error kinds a manifest may declare (each).
pub const MAX_DECLARED: usize = 64;

/// Longest name (stage, param, port, format, error kind) and version, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// Longest description or doc text, in bytes.
pub const MAX_DOC_BYTES: usize = 4096;

/// Most choices of a choice param, and the longest choice in bytes.
pub const MAX_CHOICES: usize = 256;
pub const MAX_CHOICE_BYTES: usize = 256;

/// Error kinds the SDK itself raises: accepted from any stage without being declared.
pub const SDK_ERROR_KINDS: &[&str] = &["invalid-params", "missing-input", "missing-output"];

/// Rejects a manifest the host could not honour or safely use.
pub(crate) fn check_manifest(m: &Manifest) -> Result<(), String> {
    name("stage name", &m.name)?;
    version(&m.version)?;
    doc("description", &m.description)?;
    counts(m)?;
    unique("param", m.params.iter().map(|p| p.name.as_str()))?;
    unique("input port", m.inputs.iter().map(|p| p.name.as_str()))?;
    unique("output port", m.outputs.iter().map(|p| p.name.as_str()))?;
    unique("error kind", m.errors.iter().map(|e| e.name.as_str()))?;
    for port in m.inputs.iter().chain(&m.outputs) {
        check_port(port)?;
    }
    for e in &m.errors {
        name("error kind", &e.name)?;
        doc(&format!("doc of error kind `{}`", e.name), &e.doc)?;
    }
    m.params.iter().try_for_each(check_param)
}

/// Whether a stage error of `kind` is one the manifest declares (or the SDK raises).
pub(crate) fn declares_error(m: &Manifest, kind: &str) -> bool {
    SDK_ERROR_KINDS.contains(&kind) || m.errors.iter().any(|e| e.name == kind)
}

fn counts(m: &Manifest) -> Result<(), String> {
    for (what, n) in [
        ("params", m.params.len()),
        ("input ports", m.inputs.len()),
        ("output ports", m.outputs.len()),
        ("error kinds", m.errors.len()),
    ] {
        if n > MAX_DECLARED {
            return Err(format!("{n} {what} declared; at most {MAX_DECLARED}"));
        }
    }
    Ok(())
}

/// `[a-z0-9][a-z0-9_-]*`, at most [`MAX_NAME_BYTES`].
fn name(what: &str, n: &str) -> Result<(), String> {
    let first_ok = n
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok = n
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if first_ok && rest_ok && n.len() <= MAX_NAME_BYTES {
        Ok(())
    } else {
        Err(format!(
            "{what} {:?} is not a name: 1 to {MAX_NAME_BYTES} of a-z, 0-9, `-`, `_`, \
             starting with a letter or digit",
            clip(n)
        ))
    }
}

/// Printable ASCII without spaces (`1.2.0-rc.1+build`), at most [`MAX_NAME_BYTES`].
fn version(v: &str) -> Result<(), String> {
    if !v.is_empty() && v.len() <= MAX_NAME_BYTES && v.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(format!(
            "version {:?} must be 1 to {MAX_NAME_BYTES} printable ASCII characters without spaces",
            clip(v)
        ))
    }
}

fn doc(what: &str, text: &str) -> Result<(), String> {
    if text.len() > MAX_DOC_BYTES {
        return Err(format!(
            "{what} is {} bytes; at most {MAX_DOC_BYTES}",
            text.len()
        ));
    }
    Ok(())
}

/// At most 80 bytes of `s`, for an error message.
fn clip(s: &str) -> &str {
    let mut end = s.len().min(80);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn unique<'a>(what: &str, names: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = HashSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(format!("{what} `{}` is declared twice", clip(n)));
        }
    }
    Ok(())
}

fn check_port(p: &PortSpec) -> Result<(), String> {
    name("port", &p.name)?;
    name(&format!("format of port `{}`", p.name), &p.format)?;
    doc(&format!("doc of port `{}`", p.name), &p.doc)
}

fn check_param(p: &ParamSpec) -> Result<(), String> {
    name("param", &p.name)?;
    doc(&format!("doc of param `{}`", p.name), &p.doc)?;
    check_bounds(p)?;
    check_choices(p)?;
    if let Some(d) = &p.default {
        check_default(p, d)?;
    }
    Ok(())
}

/// Bounds are finite and `min ≤ max`.
fn check_bounds(p: &ParamSpec) -> Result<(), String> {
    for (which, bound) in [("min", p.min), ("max", p.max)] {
        if bound.is_some_and(|b| !b.is_finite()) {
            return Err(format!("{which} of `{}` is not a finite number", p.name));
        }
    }
    match (p.min, p.max) {
        (Some(min), Some(max)) if min > max => {
            Err(format!("`{}` has min {min} above its max {max}", p.name))
        }
        _ => Ok(()),
    }
}

fn check_choices(p: &ParamSpec) -> Result<(), String> {
    if p.kind == ParamKind::Choice && p.choices.is_empty() {
        return Err(format!("choice param `{}` lists no choices", p.name));
    }
    if p.choices.len() > MAX_CHOICES {
        return Err(format!(
            "`{}` lists {} choices; at most {MAX_CHOICES}",
            p.name,
            p.choices.len()
        ));
    }
    if p.choices.iter().any(|c| c.len() > MAX_CHOICE_BYTES) {
        return Err(format!(
            "a choice of `{}` is longer than {MAX_CHOICE_BYTES} bytes",
            p.name
        ));
    }
    unique(
        &format!("choice of `{}`", p.name),
        p.choices.iter().map(String::as_str),
    )
}

/// The default has the param's kind, is finite, and lies inside its range
/// and choices: a default the host would reject if a user gave it is a
/// broken manifest.
fn check_default(p: &ParamSpec, d: &Value) -> Result<(), String> {
    let kind_ok = matches!(
        (p.kind, d),
        (ParamKind::Boolean, Value::Boolean(_))
            | (ParamKind::Integer, Value::Integer(_))
            | (ParamKind::Float, Value::Float(_))
            | (ParamKind::Text | ParamKind::Choice, Value::Text(_))
            | (ParamKind::IntegerList, Value::IntegerList(_))
            | (ParamKind::FloatList, Value::FloatList(_))
            | (ParamKind::TextList, Value::TextList(_))
    );
    if !kind_ok {
        return Err(format!(
            "default of `{}` is not a valid {}",
            p.name,
            kind_name(p.kind)
        ));
    }
    let numbers: Vec<f64> = match d {
        Value::Integer(i) => vec![*i as f64],
        Value::Float(f) => vec![*f],
        Value::IntegerList(l) => l.iter().map(|i| *i as f64).collect(),
        Value::FloatList(l) => l.clone(),
        _ => Vec::new(),
    };
    for x in numbers {
        let inside =
            x.is_finite() && p.min.is_none_or(|min| x >= min) && p.max.is_none_or(|max| x <= max);
        if !inside {
            return Err(format!(
                "default of `{}` ({x}) is not a finite number inside its range",
                p.name
            ));
        }
    }
    match d {
        Value::Text(s) if p.kind == ParamKind::Choice && !p.choices.contains(s) => {
            Err(format!("default of `{}` is not one of its choices", p.name))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::bindings::ErrorKindSpec;

    fn port(name: &str) -> PortSpec {
        PortSpec {
            name: name.into(),
            format: "bin".into(),
            doc: String::new(),
            required: true,
        }
    }

    fn param(name: &str, kind: ParamKind, default: Option<Value>) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            kind,
            doc: String::new(),
            default,
            min: None,
            max: None,
            choices: Vec::new(),
        }
    }

    fn good() -> Manifest {
        Manifest {
            name: "fastq-qc".into(),
            version: "0.1.0".into(),
            description: "QC".into(),
            params: vec![param(
                "quality-cutoff",
                ParamKind::Integer,
                Some(Value::Integer(20)),
            )],
            inputs: vec![port("reads")],
            outputs: vec![port("trimmed")],
            errors: vec![ErrorKindSpec {
                name: "malformed-fastq".into(),
                doc: String::new(),
            }],
        }
    }

    fn rejected(edit: impl FnOnce(&mut Manifest)) -> String {
        let mut m = good();
        edit(&mut m);
        check_manifest(&m).expect_err("a hostile manifest passed")
    }

    #[test]
    fn a_plain_manifest_passes() {
        check_manifest(&good()).unwrap();
    }

    #[test]
    fn port_names_cannot_escape_a_directory() {
        for bad in ["../x", "/abs/", "a/b", "", ".", "X", "a b", "é", "-lead"] {
            let e = rejected(|m| m.outputs[0].name = bad.into());
            assert!(e.contains("not a name"), "{bad:?}: {e}");
        }
        let e = rejected(|m| m.inputs[0].format = "../../etc".into());
        assert!(e.contains("format"), "{e}");
        rejected(|m| m.outputs[0].name = "a".repeat(MAX_NAME_BYTES + 1));
    }

    #[test]
    fn stage_param_and_error_names_are_checked() {
        rejected(|m| m.name = "../stage".into());
        rejected(|m| m.name = "evil\u{1b}[2J".into());
        rejected(|m| m.params[0].name = "a=b".into());
        rejected(|m| m.errors[0].name = "Kind With Spaces".into());
        rejected(|m| m.version = String::new());
        rejected(|m| m.version = "1.0\n".into());
        rejected(|m| m.version = "1".repeat(MAX_NAME_BYTES + 1));
    }

    #[test]
    fn counts_and_sizes_are_capped() {
        let e =
            rejected(|m| m.outputs = (0..=MAX_DECLARED).map(|i| port(&format!("o{i}"))).collect());
        assert!(e.contains("output ports"), "{e}");
        rejected(|m| {
            m.params = (0..=MAX_DECLARED)
                .map(|i| param(&format!("p{i}"), ParamKind::Boolean, None))
                .collect()
        });
        rejected(|m| m.description = "x".repeat(MAX_DOC_BYTES + 1));
        rejected(|m| m.inputs[0].doc = "x".repeat(MAX_DOC_BYTES + 1));
        rejected(|m| m.inputs.push(port("reads")));
    }

    #[test]
    fn numeric_bounds_and_defaults_are_consistent() {
        let e = rejected(|m| {
            m.params[0].min = Some(10.0);
            m.params[0].max = Some(1.0);
        });
        assert!(e.contains("above its max"), "{e}");
        rejected(|m| m.params[0].max = Some(f64::NAN));
        rejected(|m| m.params[0].min = Some(f64::NEG_INFINITY));
        let e = rejected(|m| m.params[0].max = Some(5.0));
        assert!(e.contains("inside its range"), "{e}");
        rejected(|m| {
            m.params
                .push(param("f", ParamKind::Float, Some(Value::Float(f64::NAN))))
        });
        rejected(|m| {
            m.params.push(param(
                "l",
                ParamKind::FloatList,
                Some(Value::FloatList(vec![1.0, f64::INFINITY])),
            ))
        });
        rejected(|m| m.params[0].default = Some(Value::Text("20".into())));
    }

    #[test]
    fn choice_defaults_are_among_the_choices() {
        let mut choice = param("mode", ParamKind::Choice, Some(Value::Text("c".into())));
        choice.choices = vec!["a".into(), "b".into()];
        let e = rejected(|m| m.params.push(choice.clone()));
        assert!(e.contains("not one of its choices"), "{e}");
        rejected(|m| {
            let mut none = choice.clone();
            none.choices.clear();
            m.params.push(none)
        });
        rejected(|m| {
            let mut dup = choice.clone();
            dup.choices = vec!["c".into(), "c".into()];
            m.params.push(dup)
        });
        choice.default = Some(Value::Text("b".into()));
        let mut m = good();
        m.params.push(choice);
        check_manifest(&m).unwrap();
    }

    #[test]
    fn only_declared_error_kinds_are_trusted() {
        let m = good();
        assert!(declares_error(&m, "malformed-fastq"));
        assert!(declares_error(&m, "missing-input"), "the SDK's own kinds");
        assert!(!declares_error(&m, "made-up"));
    }
}
