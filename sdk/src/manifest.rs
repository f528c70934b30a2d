//! Builders for a stage's manifest: name, params, ports and error kinds.

use std::ops::RangeInclusive;

use crate::{ErrorKindSpec, Manifest, ParamKind, ParamSpec, PortSpec, Value};

/// The error kinds the SDK raises itself (name, doc): `export_stage!` adds
/// each one the stage did not declare to its manifest.
pub const SDK_ERROR_KINDS: &[(&str, &str)] = &[
    (
        "invalid-params",
        "The params do not fit the stage's Params type",
    ),
    ("missing-input", "A required input port is not connected"),
    (
        "missing-output",
        "The stage asked for an output port it does not declare",
    ),
    #[cfg(feature = "genomics")]
    ("io", "An input could not be read or an output written"),
    #[cfg(feature = "genomics")]
    ("limit-exceeded", "An input exceeds a size limit"),
];

impl Manifest {
    pub fn new(name: &str, version: &str, description: &str) -> Manifest {
        Manifest {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            params: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub fn param(mut self, p: ParamSpec) -> Manifest {
        self.params.push(p);
        self
    }

    pub fn input(mut self, name: &str, format: &str, required: bool, doc: &str) -> Manifest {
        self.inputs.push(PortSpec {
            name: name.into(),
            format: format.into(),
            doc: doc.into(),
            required,
        });
        self
    }

    pub fn output(mut self, name: &str, format: &str, required: bool, doc: &str) -> Manifest {
        self.outputs.push(PortSpec {
            name: name.into(),
            format: format.into(),
            doc: doc.into(),
            required,
        });
        self
    }

    pub fn error(mut self, name: &str, doc: &str) -> Manifest {
        self.errors.push(ErrorKindSpec {
            name: name.into(),
            doc: doc.into(),
        });
        self
    }

    /// Adds each of [`SDK_ERROR_KINDS`] the manifest does not declare yet.
    pub fn with_sdk_errors(mut self) -> Manifest {
        for (name, doc) in SDK_ERROR_KINDS {
            if !self.errors.iter().any(|e| e.name == *name) {
                self = self.error(name, doc);
            }
        }
        self
    }
}

impl ParamSpec {
    fn of(name: &str, kind: ParamKind, default: Option<Value>, doc: &str) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            kind,
            doc: doc.into(),
            default,
            min: None,
            max: None,
            choices: Vec::new(),
        }
    }

    pub fn boolean(name: &str, default: bool, doc: &str) -> ParamSpec {
        Self::of(name, ParamKind::Boolean, Some(Value::Boolean(default)), doc)
    }

    pub fn integer(name: &str, default: i64, doc: &str) -> ParamSpec {
        Self::of(name, ParamKind::Integer, Some(Value::Integer(default)), doc)
    }

    pub fn float(name: &str, default: f64, doc: &str) -> ParamSpec {
        Self::of(name, ParamKind::Float, Some(Value::Float(default)), doc)
    }

    pub fn text(name: &str, default: &str, doc: &str) -> ParamSpec {
        Self::of(
            name,
            ParamKind::Text,
            Some(Value::Text(default.into())),
            doc,
        )
    }

    pub fn choice(name: &str, choices: &[&str], default: &str, doc: &str) -> ParamSpec {
        let mut p = Self::of(
            name,
            ParamKind::Choice,
            Some(Value::Text(default.into())),
            doc,
        );
        p.choices = choices.iter().map(|c| (*c).to_owned()).collect();
        p
    }

    pub fn text_list(name: &str, default: &[&str], doc: &str) -> ParamSpec {
        let v = default.iter().map(|s| (*s).to_owned()).collect();
        Self::of(name, ParamKind::TextList, Some(Value::TextList(v)), doc)
    }

    pub fn integer_list(name: &str, default: &[i64], doc: &str) -> ParamSpec {
        let v = default.to_vec();
        Self::of(
            name,
            ParamKind::IntegerList,
            Some(Value::IntegerList(v)),
            doc,
        )
    }

    pub fn float_list(name: &str, default: &[f64], doc: &str) -> ParamSpec {
        let v = default.to_vec();
        Self::of(name, ParamKind::FloatList, Some(Value::FloatList(v)), doc)
    }

    /// Makes the param required (no default).
    pub fn required(mut self) -> ParamSpec {
        self.default = None;
        self
    }

    /// Inclusive numeric bounds (of each element, for lists).
    pub fn range(mut self, min: f64, max: f64) -> ParamSpec {
        self.min = Some(min);
        self.max = Some(max);
        self
    }

    /// Inclusive integer bounds, `0..=93` (of each element, for lists).
    /// Bounds travel as `f64`: exact up to 2^53.
    pub fn integer_range(self, range: RangeInclusive<i64>) -> ParamSpec {
        let (min, max) = range.into_inner();
        self.range(min as f64, max as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_params_and_integer_ranges() {
        let p = ParamSpec::integer_list("windows", &[100, 1000], "Window sizes")
            .integer_range(1..=1_000_000);
        assert_eq!(p.kind, ParamKind::IntegerList);
        assert!(matches!(p.default, Some(Value::IntegerList(ref v)) if v == &[100, 1000]));
        assert_eq!((p.min, p.max), (Some(1.0), Some(1e6)));
        let p = ParamSpec::float_list("q", &[0.5], "Quantiles").range(0.0, 1.0);
        assert!(matches!(p.default, Some(Value::FloatList(ref v)) if v == &[0.5]));
    }

    #[test]
    fn sdk_error_kinds_are_added_once() {
        let m = Manifest::new("s", "1", "")
            .error("invalid-params", "my own words")
            .with_sdk_errors();
        let names: Vec<&str> = m.errors.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names[..3],
            ["invalid-params", "missing-input", "missing-output"]
        );
        assert_eq!(m.errors[0].doc, "my own words");
        assert_eq!(m.clone().with_sdk_errors().errors.len(), m.errors.len());
    }
}
