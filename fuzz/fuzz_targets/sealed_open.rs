//! R43/R51: opening arbitrary bytes as a sealed secret never panics, and a
//! genuine sealed blob with any one byte changed never opens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::crypto::{Aad, KeyRing};
use mfa_core::model::{FactorId, SealedSecret, UserId};
use std::sync::OnceLock;

const PLAINTEXT: &[u8] = b"12345678901234567890";

struct Fixture {
    keys: KeyRing,
    aad: Aad,
    sealed: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Two keys, so a blob naming the old key id is opened too.
        let keys = KeyRing::builder()
            .aead_key(1, &[1u8; 32])
            .aead_key(2, &[2u8; 32])
            .current(2)
            .root_secret(&[3u8; 32])
            .build()
            .expect("key ring");
        let aad = Aad::factor(UserId::new(), FactorId::new());
        let sealed = keys.seal(PLAINTEXT, &aad).expect("seal").into_bytes();
        let opened = keys
            .open(&SealedSecret::from_bytes(sealed.clone()), &aad)
            .expect("the genuine blob opens");
        assert_eq!(opened.expose(), PLAINTEXT);
        Fixture { keys, aad, sealed }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    // Arbitrary bytes: any result but a panic; opening is never a success
    // unless the bytes are the genuine blob.
    let opened = f
        .keys
        .open(&SealedSecret::from_bytes(data.to_vec()), &f.aad);
    if opened.is_ok() {
        assert_eq!(data, f.sealed.as_slice(), "forged blob opened");
    }
    // The genuine blob with one byte changed.
    if let [a, b, delta, ..] = *data {
        if delta != 0 {
            let mut tampered = f.sealed.clone();
            let index = usize::from(u16::from_le_bytes([a, b])) % tampered.len();
            tampered[index] ^= delta;
            assert!(
                f.keys
                    .open(&SealedSecret::from_bytes(tampered), &f.aad)
                    .is_err(),
                "tampered blob opened (byte {index})"
            );
        }
    }
});
