//! Webhook triggers: `[triggers.NAME]` in the daemon's config (the pipeline a delivery runs, the
//! group its runs belong to, the secret that signs deliveries) and the HMAC-SHA256 signature of
//! a delivery's body.
//!
//! A LIMS or submission portal `POST`s a JSON body to `/v1/triggers/NAME`
//! with `X-Petri-Signature: sha256=<hex HMAC-SHA256 of the body>`; the
//! daemon checks it in constant time, then submits the trigger's pipeline
//! with the body's sample sheet as a run of the trigger's group. The
//! pipeline and the secret are read at each delivery, so an operator can
//! change the one and rotate the other without a restart. See docs/server.md.

use std::path::PathBuf;

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::schedule::Priority;

/// The request header that carries a delivery's signature.
pub const SIGNATURE_HEADER: &str = "x-petri-signature";

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

/// `sha256=<hex>`: the signature of `body` under `secret`, as a sender puts
/// it in [`SIGNATURE_HEADER`].
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

/// Whether `header` is `body`'s signature under `secret` (compared in
/// constant time).
pub fn is_signed(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(Ok(signature)) = header.trim().strip_prefix("sha256=").map(hex::decode) else {
        return false;
    };
    mac(secret, body).verify_slice(&signature).is_ok()
}

fn mac(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length (longer ones are hashed first).
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_checks_only_for_its_body_and_secret() {
        let sig = sign(b"s3cret", b"{\"samples\":\"x\"}");
        assert!(is_signed(b"s3cret", b"{\"samples\":\"x\"}", &sig));
        assert!(!is_signed(b"s3cret", b"{\"samples\":\"y\"}", &sig));
        assert!(!is_signed(b"other", b"{\"samples\":\"x\"}", &sig));
        assert!(!is_signed(b"s3cret", b"{\"samples\":\"x\"}", "sha256=zz"));
        assert!(!is_signed(b"s3cret", b"{\"samples\":\"x\"}", &sig[7..]));
        // RFC 4231, test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

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
