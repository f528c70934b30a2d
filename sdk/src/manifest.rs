//! Builders for a stage's manifest: name, params, ports and error kinds.

use crate::{ErrorKindSpec, Manifest, ParamKind, ParamSpec, PortSpec, Value};

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

    /// Makes the param required (no default).
    pub fn required(mut self) -> ParamSpec {
        self.default = None;
        self
    }

    /// Inclusive numeric bounds.
    pub fn range(mut self, min: f64, max: f64) -> ParamSpec {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
}
