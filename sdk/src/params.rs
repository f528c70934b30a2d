//! Typed params: the host's checked param list deserialised into the stage's own struct.

use serde::de::DeserializeOwned;

use crate::{Param, StageError, Value};

/// Deserialises `params` into `P` (field names are param names).
pub fn from_params<P: DeserializeOwned>(params: &[Param]) -> Result<P, StageError> {
    let map = params
        .iter()
        .map(|p| (p.name.clone(), to_json(&p.value)))
        .collect::<serde_json::Map<_, _>>();
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
        StageError::new(
            "invalid-params",
            format!("params do not fit the stage: {e}"),
        )
    })
}

fn to_json(v: &Value) -> serde_json::Value {
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
