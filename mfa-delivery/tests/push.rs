//! Push transports against local stand-ins for Web Push services, FCM and
//! APNs that check what the real services check (the JWTs' signatures and
//! claims, the headers, the decrypted Web Push body), plus the address
//! checks. Loopback only, no internet.
#![cfg(feature = "push")]

#[path = "push/apns.rs"]
mod apns;
#[path = "push/fcm.rs"]
mod fcm;
#[path = "push/server.rs"]
mod server;
#[path = "push/web_push.rs"]
mod web_push;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use data_encoding::BASE64URL_NOPAD;
use mfa_core::crypto::SecretString;
use mfa_delivery::push::{EndpointPolicy, PushAddress, PushAddressError, PushMessage};
use mfa_delivery::retry::RetryPolicy;
use std::time::Duration;
use web_push_native::p256;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

/// Quick retries, so the retry tests take milliseconds.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(2),
        max_backoff: Duration::from_millis(5),
    }
}

/// A fresh P-256 signing key: (PKCS#8 PEM, uncompressed public point).
pub fn p256_signing_key() -> (SecretString, Vec<u8>) {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let der = pair.to_pkcs8v1().unwrap();
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
    (SecretString::from(pem), pair.public_key().as_ref().to_vec())
}

/// jsonwebtoken's key for an uncompressed P-256 point.
pub fn es256_decoding_key(point: &[u8]) -> jsonwebtoken::DecodingKey {
    assert_eq!(
        (point.len(), point[0]),
        (65, 0x04),
        "uncompressed P-256 point"
    );
    jsonwebtoken::DecodingKey::from_ec_components(
        &BASE64URL_NOPAD.encode(&point[1..33]),
        &BASE64URL_NOPAD.encode(&point[33..]),
    )
    .unwrap()
}

/// The approval push every test sends.
pub fn approval() -> PushMessage {
    PushMessage::new("Approve sign-in?", "Firefox on Linux, Zürich. Pick 42.")
        .with_data("request_id", "req_01HZX".into())
        .with_data("numbers", serde_json::json!([17, 42, 88]))
        .with_collapse_id("sign-in")
}

/// A browser subscription: the address and the private half the browser
/// keeps (to decrypt).
pub fn subscription(endpoint: &str) -> (PushAddress, p256::SecretKey, [u8; 16]) {
    let secret = loop {
        if let Ok(key) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            break key;
        }
    };
    let auth: [u8; 16] = rand::random();
    let point = secret.public_key().to_encoded_point(false);
    let address = PushAddress::WebPush {
        endpoint: endpoint.to_owned(),
        p256dh: BASE64URL_NOPAD.encode(point.as_bytes()),
        auth: BASE64URL_NOPAD.encode(&auth),
    };
    (address, secret, auth)
}

fn web(endpoint: &str) -> PushAddress {
    subscription(endpoint).0
}

fn with_keys(p256dh: &str, auth: &str) -> PushAddress {
    PushAddress::WebPush {
        endpoint: "https://updates.push.services.mozilla.com/wpush/v2/x".into(),
        p256dh: p256dh.into(),
        auth: auth.into(),
    }
}

#[test]
fn web_push_address_with_https_endpoint_and_good_keys_is_accepted() {
    let address = web("https://updates.push.services.mozilla.com/wpush/v2/gAAAA");
    assert_eq!(address.validate(), Ok(()));
}

#[test]
fn web_push_endpoint_must_be_https_to_a_host_name() {
    for endpoint in [
        "http://push.example.com/x",
        "https://10.0.0.1/x",
        "https://[fd00::1]/x",
        "https://user:pw@push.example.com/x",
        "https://push.example.com/x#frag",
        "ftp://push.example.com/x",
        "http://127.0.0.1:8080/x",
    ] {
        assert_eq!(
            web(endpoint).validate(),
            Err(PushAddressError::EndpointNotHttps),
            "{endpoint}"
        );
    }
    for endpoint in [
        "not a url",
        "/relative",
        &format!("https://a.example/{}", "x".repeat(2048)),
    ] {
        assert_eq!(
            web(endpoint).validate(),
            Err(PushAddressError::EndpointNotUrl)
        );
    }
}

#[test]
fn loopback_http_endpoints_pass_only_with_the_test_override() {
    let policy = EndpointPolicy::AllowLoopbackHttp;
    for endpoint in [
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://[::1]:1/x",
    ] {
        assert_eq!(web(endpoint).validate_with(policy), Ok(()), "{endpoint}");
    }
    for endpoint in ["http://push.example.com/x", "http://10.0.0.1/x"] {
        assert_eq!(
            web(endpoint).validate_with(policy),
            Err(PushAddressError::EndpointNotHttps),
            "{endpoint}"
        );
    }
}

#[test]
fn web_push_keys_must_have_the_right_form_and_length() {
    let PushAddress::WebPush { p256dh, auth, .. } = web("https://push.example.com/x") else {
        unreachable!()
    };
    assert_eq!(with_keys(&p256dh, &auth).validate(), Ok(()));
    // Padding as some libraries write it is fine.
    assert_eq!(
        with_keys(&format!("{p256dh}="), &format!("{auth}==")).validate(),
        Ok(())
    );

    let point = BASE64URL_NOPAD.decode(p256dh.as_bytes()).unwrap();
    let compressed = {
        let mut c = point[..33].to_vec();
        c[0] = 0x02 | (point[64] & 1);
        BASE64URL_NOPAD.encode(&c)
    };
    let off_curve = {
        let mut p = point.clone();
        p[64] ^= 1;
        BASE64URL_NOPAD.encode(&p)
    };
    for bad in [
        compressed,
        off_curve,
        "!!".into(),
        String::new(),
        BASE64URL_NOPAD.encode(&[4; 64]),
    ] {
        assert_eq!(
            with_keys(&bad, &auth).validate(),
            Err(PushAddressError::BadP256dh)
        );
    }
    for bad in [
        BASE64URL_NOPAD.encode(&[1; 15]),
        BASE64URL_NOPAD.encode(&[1; 17]),
        "$$".into(),
    ] {
        assert_eq!(
            with_keys(&p256dh, &bad).validate(),
            Err(PushAddressError::BadAuth)
        );
    }
}

#[test]
fn fcm_tokens_must_be_plain_and_bounded() {
    let good = PushAddress::Fcm {
        token: "dGVzdA:APA91bH-x_y.z".into(),
    };
    assert_eq!(good.validate(), Ok(()));
    for token in [
        String::new(),
        "has space".into(),
        "a\"b".into(),
        "x".repeat(4097),
    ] {
        assert_eq!(
            PushAddress::Fcm { token }.validate(),
            Err(PushAddressError::BadFcmToken)
        );
    }
}

#[test]
fn apns_tokens_must_be_hex_of_16_to_100_bytes() {
    for token in ["ab".repeat(32), "AB".repeat(16), "0f".repeat(100)] {
        assert_eq!(
            PushAddress::Apns {
                device_token: token
            }
            .validate(),
            Ok(())
        );
    }
    for token in [
        "ab".repeat(15),
        "ab".repeat(101),
        "abc".repeat(21),
        "zz".repeat(32),
    ] {
        assert_eq!(
            PushAddress::Apns {
                device_token: token
            }
            .validate(),
            Err(PushAddressError::BadApnsToken)
        );
    }
}

#[test]
fn addresses_serialise_with_a_kind_tag() {
    let apns = PushAddress::Apns {
        device_token: "ab".repeat(32),
    };
    let json = serde_json::to_value(&apns).unwrap();
    assert_eq!(json["kind"], "apns");
    assert_eq!(serde_json::from_value::<PushAddress>(json).unwrap(), apns);
    let web: PushAddress = serde_json::from_str(
        r#"{"kind":"web_push","endpoint":"https://p.example/x","p256dh":"a","auth":"b"}"#,
    )
    .unwrap();
    assert!(matches!(web, PushAddress::WebPush { .. }));
    let fcm: PushAddress = serde_json::from_str(r#"{"kind":"fcm","token":"t"}"#).unwrap();
    assert_eq!(fcm, PushAddress::Fcm { token: "t".into() });
}

#[test]
fn address_debug_shows_no_token_key_or_endpoint_path() {
    let PushAddress::WebPush { p256dh, auth, .. } = web("https://push.example.com/secret-path")
    else {
        unreachable!()
    };
    let web = with_keys(&p256dh, &auth);
    let debug = format!("{web:?}");
    assert!(
        debug.contains("https://updates.push.services.mozilla.com"),
        "{debug}"
    );
    assert!(!debug.contains("wpush") && !debug.contains(&p256dh) && !debug.contains(&auth));
    let fcm = format!(
        "{:?}",
        PushAddress::Fcm {
            token: "tok123".into()
        }
    );
    let apns = format!(
        "{:?}",
        PushAddress::Apns {
            device_token: "ab".repeat(32)
        }
    );
    assert!(
        !fcm.contains("tok123") && !apns.contains("abab"),
        "{fcm} {apns}"
    );
}

#[test]
fn configs_and_senders_keep_keys_out_of_debug() {
    use mfa_core::crypto::ExposeSecret;
    use mfa_delivery::push::apns::{ApnsConfig, ApnsSender};
    use mfa_delivery::push::fcm::{FcmConfig, FcmSender, ServiceAccountKey};
    use mfa_delivery::push::web_push::{WebPushConfig, WebPushSender};

    let (ec_key, _) = p256_signing_key();
    let ec_line = ec_key.expose_secret().lines().nth(1).unwrap().to_owned();
    let rsa_line = fcm::KEY.lines().nth(1).unwrap();
    let web = WebPushConfig::new(ec_key.clone(), "mailto:security@acme.example");
    let apns = ApnsConfig::new("TEAM123456", "KEY1234567", ec_key, "com.acme.app");
    let fcm = FcmConfig::new(ServiceAccountKey {
        client_email: "push@p.iam.gserviceaccount.com".into(),
        private_key: SecretString::from(fcm::KEY),
        private_key_id: Some("key-1".into()),
        token_uri: "https://oauth2.googleapis.com/token".into(),
        project_id: Some("p".into()),
    });
    let debug = [
        format!("{web:?}"),
        format!("{:?}", WebPushSender::new(web).unwrap()),
        format!("{apns:?}"),
        format!("{:?}", ApnsSender::new(apns).unwrap()),
        format!("{fcm:?}"),
        format!("{:?}", FcmSender::new(fcm).unwrap()),
    ];
    for d in debug {
        assert!(!d.contains(&ec_line) && !d.contains(rsa_line), "{d}");
    }
}
