//! Loading the provider keys that sign our JWTs (VAPID and APNs: ES256;
//! FCM: RS256). Every key is checked when the sender is built, so a bad key
//! fails at start-up, not at the first sign-in.

use aws_lc_rs::agreement;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// A P-256 private key for ES256 JWTs, with its public point.
pub(super) struct Es256Key {
    pub(super) encoding: EncodingKey,
    /// The uncompressed public point (65 bytes).
    pub(super) public: Vec<u8>,
}

/// Reads a P-256 private key: PEM (PKCS#8 `PRIVATE KEY`, e.g. an APNs
/// `.p8` file, or SEC1 `EC PRIVATE KEY`) or the raw 32-byte scalar in
/// base64url (what VAPID key generators print).
pub(super) fn es256_key(text: &str, what: &str) -> Result<Es256Key, String> {
    let text = text.trim();
    let pair = if text.starts_with("-----BEGIN") {
        let der = pem::parse(text).map_err(|_| format!("{what}: not a PEM document"))?;
        if !matches!(der.tag(), "PRIVATE KEY" | "EC PRIVATE KEY") {
            return Err(format!(
                "{what}: expected a PRIVATE KEY or EC PRIVATE KEY PEM"
            ));
        }
        EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der.contents())
            .map_err(|_| format!("{what}: not a P-256 private key"))?
    } else {
        let raw = BASE64URL_NOPAD
            .decode(text.trim_end_matches('=').as_bytes())
            .ok()
            .filter(|raw| raw.len() == 32)
            .ok_or_else(|| format!("{what}: neither PEM nor 32 bytes of base64url"))?;
        let public = agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, &raw)
            .ok()
            .and_then(|key| key.compute_public_key().ok())
            .ok_or_else(|| format!("{what}: not a P-256 private key"))?;
        EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &raw,
            public.as_ref(),
        )
        .map_err(|_| format!("{what}: not a P-256 private key"))?
    };
    let pkcs8 = pair
        .to_pkcs8v1()
        .map_err(|_| format!("{what}: could not encode the key"))?;
    let key = Es256Key {
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        public: pair.public_key().as_ref().to_vec(),
    };
    signs(&key.encoding, Algorithm::ES256, what)?;
    Ok(key)
}

/// Reads an RSA private key in PEM (PKCS#8 `PRIVATE KEY`, as in a Google
/// service-account file, or PKCS#1 `RSA PRIVATE KEY`).
pub(super) fn rs256_key(pem: &str, what: &str) -> Result<EncodingKey, String> {
    let key = EncodingKey::from_rsa_pem(pem.trim().as_bytes())
        .map_err(|_| format!("{what}: not an RSA private key in PEM"))?;
    signs(&key, Algorithm::RS256, what)?;
    Ok(key)
}

/// Signs a throw-away token: jsonwebtoken parses the key only when it
/// signs, and we want to know now.
fn signs(key: &EncodingKey, algorithm: Algorithm, what: &str) -> Result<(), String> {
    jsonwebtoken::encode(&Header::new(algorithm), &serde_json::json!({}), key)
        .map(drop)
        .map_err(|_| format!("{what}: the key cannot sign {algorithm:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_pem_forms_of_one_key_give_the_same_public_point() {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
        let from_pem = es256_key(&pem, "k").unwrap();
        assert_eq!(from_pem.public, pair.public_key().as_ref());
        assert_eq!(from_pem.public.len(), 65);

        let raw = aws_lc_rs::encoding::AsBigEndian::as_be_bytes(&pair.private_key()).unwrap();
        let from_raw = es256_key(&BASE64URL_NOPAD.encode(raw.as_ref()), "k").unwrap();
        assert_eq!(from_raw.public, from_pem.public);
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        for bad in [
            "",
            "not-a-key",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        ] {
            let e = es256_key(bad, "VAPID key").err().unwrap();
            assert!(e.starts_with("VAPID key: "), "{e}");
        }
        assert!(
            rs256_key(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
                "k"
            )
            .is_err()
        );
    }
}
