//! Webhook triggers: `[triggers.NAME]` in the daemon's config (the pipeline a delivery runs, the
//! group its runs belong to, the secret that signs deliveries); the signature is `signature.rs`.
//!
//! A LIMS or submission portal `POST`s a JSON body to `/v1/triggers/NAME`
//! with `X-Petri-Signature: sha256=<hex HMAC-SHA256 of the body>`; the
//! daemon checks it in constant time, then submits the trigger's pipeline
//! with the body's sample sheet as a run of the trigger's group. The
//! pipeline and the secret are read at each delivery, so an operator can
//! change the one and rotate the other without a restart. See docs/server.md.

use std::path::PathBuf;

use serde::Deserialize;

use crate::schedule::Priority;

/// One trigger, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TriggerConfig {
    /// The pipeline file each delivery runs (on the daemon's machine).
    pub pipeline: PathBuf,
    /// The research group the runs belong to: its quotas, its visibility.
    pub group: String,
    /// A file holding the secret deliveries are signed with.
    pub secret_file: PathBuf,
    /// The runs' priority (the operator grants it by configuring it).
    #[serde(default)]
    pub priority: Priority,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_reads_from_the_config() {
        let t: TriggerConfig = toml::from_str(
            "pipeline = \"p.toml\"\ngroup = \"lab-a\"\nsecret-file = \"s\"\npriority = \"urgent\"\n",
        )
        .unwrap();
        assert_eq!((t.group.as_str(), t.priority), ("lab-a", Priority::Urgent));
        assert!(toml::from_str::<TriggerConfig>("pipeline = \"p\"\ngroup = \"g\"\n").is_err());
    }
}
