//! `petri inspect`: a stage's identity and manifest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::run::printable;
use petri_host::{ParamKind, ParamSpec, Petri, Value, param_kind_name};

#[derive(clap::Args)]
pub struct Args {
    /// The stage component (.wasm).
    stage: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn main(data_dir: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let petri = Petri::open(data_dir)
        .with_context(|| format!("opening data dir {}", data_dir.display()))?;
    let stage = petri
        .load_file(&args.stage)
        .with_context(|| format!("loading {}", args.stage.display()))?;
    let manifest = petri
        .describe(&stage)
        .await
        .with_context(|| format!("describing {}", args.stage.display()))?;
    if args.json {
        let out = serde_json::json!({
            "sha256": stage.digest,
            "size": stage.size,
            "manifest": manifest,
            "forbidden_imports": stage.forbidden_imports,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} {}  sha256:{}  ({} bytes)",
        manifest.name, manifest.version, stage.digest, stage.size
    );
    for line in manifest.description.lines() {
        println!("{}", printable(line));
    }
    println!();
    println!("params:");
    for p in &manifest.params {
        println!("  {:<24} {}", p.name, printable(&describe_param(p)));
        if !p.doc.is_empty() {
            println!("  {:<24}   {}", "", printable(&p.doc));
        }
    }
    for (title, ports) in [("inputs", &manifest.inputs), ("outputs", &manifest.outputs)] {
        println!("{title}:");
        for p in ports {
            let req = if p.required { "required" } else { "optional" };
            let doc = printable(&p.doc);
            println!("  {:<24} {:<6} {req}  {doc}", p.name, p.format);
        }
    }
    println!("errors:");
    for e in &manifest.errors {
        println!("  {:<24} {}", e.name, printable(&e.doc));
    }
    if !stage.forbidden_imports.is_empty() {
        println!(
            "forbidden imports (calling one traps): {}",
            stage.forbidden_imports.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A param's kind, range, choices and default in words:
/// `integer in 0..=93, default 20`, `choice of fast | exact, default fast`.
fn describe_param(p: &ParamSpec) -> String {
    let integral = matches!(p.kind, ParamKind::Integer | ParamKind::IntegerList);
    let number = |x: f64| match integral && x.fract() == 0.0 && x.abs() < 1e15 {
        true => format!("{}", x as i64),
        false => format!("{x}"),
    };
    let mut words = param_kind_name(p.kind).to_owned();
    match (p.min, p.max) {
        (Some(lo), Some(hi)) => words += &format!(" in {}..={}", number(lo), number(hi)),
        (Some(lo), None) => words += &format!(" >= {}", number(lo)),
        (None, Some(hi)) => words += &format!(" <= {}", number(hi)),
        (None, None) => {}
    }
    if !p.choices.is_empty() {
        words += &format!(" of {}", p.choices.join(" | "));
    }
    match &p.default {
        Some(d) => words + ", default " + &show(d),
        None => words + ", required",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Text(s) => format!("{s:?}"),
        Value::IntegerList(l) => format!("{l:?}"),
        Value::FloatList(l) => format!("{l:?}"),
        Value::TextList(l) => format!("{l:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ParamKind, default: Option<Value>) -> ParamSpec {
        ParamSpec {
            name: "p".into(),
            kind,
            doc: String::new(),
            default,
            min: None,
            max: None,
            choices: Vec::new(),
        }
    }

    #[test]
    fn params_read_as_words() {
        let mut p = spec(ParamKind::Integer, Some(Value::Integer(20)));
        (p.min, p.max) = (Some(0.0), Some(93.0));
        assert_eq!(describe_param(&p), "integer in 0..=93, default 20");
        let mut p = spec(ParamKind::Float, None);
        p.min = Some(0.5);
        assert_eq!(describe_param(&p), "float >= 0.5, required");
        let mut p = spec(ParamKind::Choice, Some(Value::Text("fast".into())));
        p.choices = vec!["fast".into(), "exact".into()];
        assert_eq!(
            describe_param(&p),
            "choice of fast | exact, default \"fast\""
        );
        let p = spec(ParamKind::IntegerList, Some(Value::IntegerList(vec![1, 2])));
        assert_eq!(describe_param(&p), "integer list, default [1, 2]");
    }
}
