//! The HMAC-SHA256 signature of a webhook body, `X-Petri-Signature: sha256=<hex>`: checked on
//! trigger deliveries a LIMS sends (`trigger.rs`), put on the notifications the daemon sends
//! (`notify.rs`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The request header that carries a body's signature.
pub const SIGNATURE_HEADER: &str = "x-petri-signature";

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
}
