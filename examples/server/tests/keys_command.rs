//! `mfa-server keys`: fresh production keys as environment lines, which
//! the key ring and the token key load as they are.

use mfa_core::crypto::{JwtKeys, KeyRing};
use std::collections::HashMap;
use std::process::Output;

fn run(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mfa-server"))
        .args(args)
        .env_remove("MFA_DATA_DIR")
        .output()
        .expect("mfa-server runs")
}

/// `NAME=value` lines, where a value in double quotes may span lines.
fn parse_env(text: &str) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    let mut rest = text;
    while let Some((name, tail)) = rest.split_once('=') {
        let name = name.trim().to_owned();
        let (value, tail) = match tail.strip_prefix('"') {
            Some(quoted) => {
                let (value, tail) = quoted.split_once('"').expect("a closing quote");
                (value, tail.strip_prefix('\n').unwrap_or(tail))
            }
            None => tail.split_once('\n').unwrap_or((tail, "")),
        };
        assert!(
            vars.insert(name.clone(), value.to_owned()).is_none(),
            "{name} twice"
        );
        rest = tail;
    }
    assert!(rest.trim().is_empty(), "trailing text: {rest}");
    vars
}

#[test]
fn keys_prints_fresh_keys_that_the_service_loads() {
    let output = run(&["keys"]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let vars = parse_env(&stdout);
    let mut names: Vec<&str> = vars.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "MFA_AEAD_CURRENT_KEY",
            "MFA_AEAD_KEYS",
            "MFA_JWT_KID",
            "MFA_JWT_PRIVATE_KEY",
            "MFA_ROOT_SECRET"
        ]
    );
    let ring = KeyRing::from_lookup(|name| vars.get(name).cloned()).expect("a key ring");
    assert_eq!(ring.key_ids(), [1]);
    assert_eq!(ring.current_key_id(), 1);
    let jwt = JwtKeys::ed25519_from_pkcs8_pem(&vars["MFA_JWT_KID"], &vars["MFA_JWT_PRIVATE_KEY"])
        .expect("an Ed25519 signing key");
    assert_eq!(jwt.signing_kid(), vars["MFA_JWT_KID"]);

    let again = String::from_utf8(run(&["keys"]).stdout).expect("UTF-8");
    let again = parse_env(&again);
    for name in ["MFA_AEAD_KEYS", "MFA_ROOT_SECRET", "MFA_JWT_PRIVATE_KEY"] {
        assert_ne!(vars[name], again[name], "{name} is fresh on every run");
    }
}

#[test]
fn help_says_what_the_keys_command_does() {
    for args in [&["--help"][..], &["keys", "--help"]] {
        let output = run(args);
        assert!(output.status.success(), "{args:?}: {output:?}");
        let help = String::from_utf8(output.stdout).expect("UTF-8");
        assert!(help.contains("mfa-server keys"), "{help}");
        assert!(help.contains("MFA_AEAD_KEYS"), "{help}");
    }
}

#[test]
fn an_unknown_argument_is_refused_with_the_usage() {
    let output = run(&["serve-forever"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty());
    let err = String::from_utf8(output.stderr).expect("UTF-8");
    assert!(err.contains("unknown arguments"), "{err}");
    assert!(err.contains("mfa-server keys"), "{err}");
}
