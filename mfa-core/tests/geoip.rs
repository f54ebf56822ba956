//! The MaxMind locator (feature `geoip`) on databases the tests build with
//! `mfa_core::testing::mmdb`: what a lookup gives, what opening refuses,
//! and the engine end to end on the memory store with a manual clock: a
//! sign-in's located country on its session, device and audit events, and
//! impossible travel flagged, scored and acted on.
//!
//! The networks are the documentation ranges (RFC 5737, RFC 3849), placed
//! in cities by these test databases only.

use chrono::TimeDelta;
use mfa_core::geoip::{GeoIpError, MaxMindLocator};
use mfa_core::model::{AuditKind, NotificationKind};
use mfa_core::risk::{DefaultRiskEngine, RiskAssessment, RiskContext, RiskEngine, RiskSignal};
use mfa_core::store::AuditFilter;
use mfa_core::testing::flow::harness::{
    Harness, expect_authenticated, expect_err, expect_mfa_ticket,
};
use mfa_core::testing::mmdb::{MmdbWriter, Value, city, country};
use mfa_core::{ClientInfo, LoginOutcome};
use mfa_store_memory::MemoryStore;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

const ZURICH: (f64, f64) = (47.3769, 8.5417);
const GENEVA: (f64, f64) = (46.2044, 6.1432);
const SYDNEY: (f64, f64) = (-33.8688, 151.2093);

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an IP address")
}

/// A City database: Zurich, Geneva and Sydney, a network with a country
/// only, one in IPv6, and a private range (which must never be located).
fn world() -> MmdbWriter {
    MmdbWriter::new("GeoLite2-City")
        .insert(ip("192.0.2.0"), 25, city("CH", ZURICH.0, ZURICH.1))
        .insert(ip("192.0.2.128"), 25, city("CH", GENEVA.0, GENEVA.1))
        .insert(ip("198.51.100.0"), 24, city("AU", SYDNEY.0, SYDNEY.1))
        .insert(ip("203.0.113.0"), 24, country("DE"))
        .insert(ip("2001:db8::"), 32, city("NZ", -41.2865, 174.7762))
        .insert(ip("10.0.0.0"), 8, city("CH", ZURICH.0, ZURICH.1))
}

fn locator(writer: &MmdbWriter) -> MaxMindLocator {
    MaxMindLocator::from_bytes(writer.to_bytes()).expect("the test database opens")
}

fn temp_file(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mfa-core-geoip");
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir.join(format!("{name}-{}.mmdb", uuid::Uuid::new_v4()))
}

// ---- lookups -------------------------------------------------------------

/// The writer's output passes the reader's full verification (every
/// network of the tree, the separator, every record, the metadata), which
/// is stricter than the format requires: the fixture is a real database.
#[test]
fn test_databases_pass_the_readers_full_verification() {
    let v4 = MmdbWriter::new("GeoLite2-Country").ipv4_only().insert(
        ip("198.51.100.0"),
        24,
        country("AU"),
    );
    for db in [world(), v4] {
        let reader = maxminddb::Reader::from_source(db.to_bytes()).expect("opens");
        reader.verify().expect("verifies");
    }
}

#[test]
fn known_address_gives_its_country_and_coordinates() {
    let geo = locator(&world());
    let zurich = geo.lookup(ip("192.0.2.77")).expect("Zurich is known");
    assert_eq!(zurich.country.as_deref(), Some("CH"));
    let at = zurich.coordinates.expect("a City database has coordinates");
    assert_eq!((at.latitude, at.longitude), ZURICH);
    let sydney = geo.lookup(ip("198.51.100.1")).expect("Sydney is known");
    assert_eq!(sydney.country.as_deref(), Some("AU"));
    assert!(
        zurich.distance_km(&sydney).expect("both have coordinates") > 16_000.0,
        "Zurich to Sydney is over 16 000 km"
    );
}

#[test]
fn neighbouring_networks_are_told_apart() {
    let geo = locator(&world());
    let at = |s: &str| geo.lookup(ip(s)).and_then(|p| p.coordinates);
    assert_eq!(at("192.0.2.127").map(|c| c.latitude), Some(ZURICH.0));
    assert_eq!(at("192.0.2.128").map(|c| c.latitude), Some(GENEVA.0));
}

#[test]
fn ipv6_and_ipv4_mapped_addresses_are_located() {
    let geo = locator(&world());
    let wellington = geo.lookup(ip("2001:db8:1::5")).expect("the IPv6 network");
    assert_eq!(wellington.country.as_deref(), Some("NZ"));
    let mapped = geo.lookup(ip("::ffff:192.0.2.77")).expect("mapped IPv4");
    assert_eq!(mapped.country.as_deref(), Some("CH"));
}

#[test]
fn unknown_address_is_none() {
    let geo = locator(&world());
    for unknown in ["8.8.8.8", "192.0.3.1", "2001:db9::1", "::1.2.3.4"] {
        assert_eq!(geo.lookup(ip(unknown)), None, "{unknown}");
    }
}

#[test]
fn private_and_local_addresses_are_none_even_when_the_database_lists_them() {
    let geo = locator(&world());
    for local in [
        "10.1.2.3",
        "127.0.0.1",
        "0.0.0.0",
        "169.254.1.1",
        "100.64.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:10.1.2.3",
    ] {
        assert_eq!(geo.lookup(ip(local)), None, "{local}");
    }
}

#[test]
fn country_record_gives_a_country_without_coordinates() {
    let geo = locator(&world());
    let point = geo.lookup(ip("203.0.113.9")).expect("the country network");
    assert_eq!(point.country.as_deref(), Some("DE"));
    assert_eq!(point.coordinates, None);
    let countries = MmdbWriter::new("GeoLite2-Country").insert(ip("192.0.2.0"), 24, country("CH"));
    let point = locator(&countries).lookup(ip("192.0.2.1")).expect("known");
    assert_eq!(
        (point.country.as_deref(), point.coordinates),
        (Some("CH"), None)
    );
}

#[test]
fn country_codes_are_upper_case_alpha_2_or_nothing() {
    let odd = MmdbWriter::new("GeoIP2-City")
        .insert(ip("192.0.2.0"), 26, city("ch", ZURICH.0, ZURICH.1))
        .insert(ip("192.0.2.64"), 26, city("CHE", ZURICH.0, ZURICH.1))
        .insert(ip("192.0.2.128"), 26, city("C1", ZURICH.0, ZURICH.1))
        .insert(ip("192.0.2.192"), 26, city("CH", 123.0, ZURICH.1));
    let geo = locator(&odd);
    let country = |s: &str| geo.lookup(ip(s)).and_then(|p| p.country);
    assert_eq!(country("192.0.2.1").as_deref(), Some("CH"));
    assert_eq!(country("192.0.2.65"), None);
    assert_eq!(country("192.0.2.129"), None);
    let bad_latitude = geo.lookup(ip("192.0.2.193")).expect("the country is kept");
    assert_eq!(bad_latitude.coordinates, None, "latitude 123 is no place");
}

#[test]
fn ipv4_database_answers_ipv4_and_knows_no_ipv6() {
    let v4 = MmdbWriter::new("GeoLite2-City").ipv4_only().insert(
        ip("198.51.100.0"),
        24,
        city("AU", SYDNEY.0, SYDNEY.1),
    );
    let geo = locator(&v4);
    assert_eq!(
        geo.lookup(ip("198.51.100.7")).and_then(|p| p.country),
        Some("AU".to_owned())
    );
    assert_eq!(geo.lookup(ip("2001:db8::1")), None);
    assert_eq!(
        geo.lookup(ip("::ffff:198.51.100.7"))
            .and_then(|p| p.country)
            .as_deref(),
        Some("AU")
    );
}

#[test]
fn damaged_record_is_unknown_not_a_panic() {
    // A string "ZZ" (control byte 0x42) turned into an extended type that
    // does not exist: the tree leads there, decoding fails.
    let damaged = MmdbWriter::new("GeoLite2-City")
        .insert(ip("192.0.2.0"), 24, city("ZZ", ZURICH.0, ZURICH.1))
        .insert(ip("198.51.100.0"), 24, city("AU", SYDNEY.0, SYDNEY.1));
    assert!(
        locator(&damaged).lookup(ip("192.0.2.1")).is_some(),
        "intact"
    );
    let mut bytes = damaged.to_bytes();
    let at = bytes
        .windows(3)
        .position(|w| w == b"\x42ZZ")
        .expect("the encoded code");
    bytes[at] = 0x00;
    bytes[at + 1] = 0xF0;
    let geo = MaxMindLocator::from_bytes(bytes).expect("the header is intact");
    assert_eq!(geo.lookup(ip("192.0.2.1")), None);
    assert!(
        geo.lookup(ip("198.51.100.1")).is_some(),
        "the rest still works"
    );
}

// ---- opening -------------------------------------------------------------

#[test]
fn database_opens_from_a_file_and_describes_itself() {
    let path = temp_file("world");
    world()
        .build_epoch(1_767_225_600)
        .write(&path)
        .expect("written");
    let geo = MaxMindLocator::open(&path).expect("opens");
    assert_eq!(geo.database_type(), "GeoLite2-City");
    assert_eq!(
        geo.built_at().map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-01-01T00:00:00+00:00")
    );
    assert!(format!("{geo:?}").contains("GeoLite2-City"));
    std::fs::remove_file(&path).ok();
}

#[test]
fn missing_file_is_a_read_error_naming_it() {
    let path = temp_file("missing");
    let err = MaxMindLocator::open(&path).expect_err("no file");
    assert!(matches!(err, GeoIpError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
}

#[test]
fn bytes_that_are_no_database_are_invalid() {
    let good = world().to_bytes();
    let cut_metadata = good[..good.len() - 20].to_vec();
    let no_tree = good[good.len() - 300..].to_vec();
    for (name, bytes) in [
        ("empty", Vec::new()),
        ("text", b"not a database at all".to_vec()),
        ("cut metadata", cut_metadata),
        ("no tree", no_tree),
    ] {
        match MaxMindLocator::from_bytes(bytes) {
            Err(GeoIpError::Invalid { reason }) => assert!(!reason.is_empty(), "{name}"),
            other => panic!("{name}: expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn database_without_locations_is_refused_by_kind() {
    let asn = MmdbWriter::new("GeoLite2-ASN").insert(
        ip("192.0.2.0"),
        24,
        Value::map([("autonomous_system_number", Value::Uint32(64_496))]),
    );
    match MaxMindLocator::from_bytes(asn.to_bytes()) {
        Err(e @ GeoIpError::NotALocationDatabase { .. }) => {
            assert!(e.to_string().contains("GeoLite2-ASN"), "{e}");
        }
        other => panic!("expected NotALocationDatabase, got {other:?}"),
    }
}

// ---- the engine, end to end ----------------------------------------------

/// The default rules, recording every assessment they make.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<(RiskContext, RiskAssessment)>>>);

#[async_trait::async_trait]
impl RiskEngine for Recorded {
    async fn assess(&self, context: &RiskContext) -> RiskAssessment {
        let assessment = DefaultRiskEngine::default().assess(context).await;
        self.0
            .lock()
            .expect("not poisoned")
            .push((context.clone(), assessment.clone()));
        assessment
    }
}

impl Recorded {
    fn last(&self) -> (RiskContext, RiskAssessment) {
        self.0
            .lock()
            .expect("not poisoned")
            .last()
            .cloned()
            .expect("an assessment")
    }
}

struct Rig {
    h: Harness<MemoryStore>,
    risk: Recorded,
}

fn rig() -> Rig {
    let risk = Recorded::default();
    let geo = Arc::new(locator(&world()));
    let h = Harness::with_builder(Arc::new(MemoryStore::new()), |b| {
        b.geo(geo).risk(risk.clone())
    });
    Rig { h, risk }
}

/// A laptop at `address`; the host knows no country.
fn laptop_at(address: &str) -> ClientInfo {
    ClientInfo {
        ip: Some(ip(address)),
        user_agent: Some("geo-tests/1.0".into()),
        fingerprint: Some("fp-laptop".into()),
        ..ClientInfo::default()
    }
}

/// The user's audit events of `kind`, newest first.
async fn events(
    h: &Harness<MemoryStore>,
    user: mfa_core::model::UserId,
    kind: AuditKind,
) -> Vec<mfa_core::model::AuditEvent> {
    h.audit_matching(&AuditFilter {
        user_id: Some(user),
        kinds: vec![kind],
        ..AuditFilter::default()
    })
    .await
}

fn signals(meta: &serde_json::Value) -> Vec<&str> {
    meta["signals"]
        .as_array()
        .expect("signals in the metadata")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect()
}

#[tokio::test]
async fn located_country_reaches_the_session_device_and_audit_events() {
    let Rig { h, .. } = rig();
    let user = h.create_user("heidi").await;
    let tokens = expect_authenticated(h.login_from(&user, laptop_at("192.0.2.10")).await);
    let sessions = h.mfa.sessions(user.id).await.expect("sessions");
    let session = sessions
        .iter()
        .find(|s| s.session.id == tokens.session_id)
        .expect("the new session");
    assert_eq!(session.session.country.as_deref(), Some("CH"));
    let devices = h.mfa.devices(user.id).await.expect("devices");
    assert_eq!(devices[0].last_country.as_deref(), Some("CH"));
    let login = events(&h, user.id, AuditKind::PasswordLogin).await;
    assert_eq!(login[0].country.as_deref(), Some("CH"));
    let registered = events(&h, user.id, AuditKind::DeviceRegistered).await;
    assert_eq!(registered[0].country.as_deref(), Some("CH"));
}

#[tokio::test]
async fn country_the_host_gives_wins_over_the_located_one() {
    let Rig { h, .. } = rig();
    let user = h.create_user("ines").await;
    let client = ClientInfo {
        country: Some("LI".into()),
        ..laptop_at("192.0.2.10")
    };
    let tokens = expect_authenticated(h.login_from(&user, client).await);
    let sessions = h.mfa.sessions(user.id).await.expect("sessions");
    let session = sessions
        .iter()
        .find(|s| s.session.id == tokens.session_id)
        .expect("the new session");
    assert_eq!(session.session.country.as_deref(), Some("LI"));
}

/// Zurich, then Sydney half an hour later: impossible travel and a new
/// country, with the IP change, score 100: the sign-in is refused, audited
/// with its signals and the located country, and the user is alerted.
#[tokio::test]
async fn impossible_travel_from_zurich_to_sydney_is_flagged_and_blocked() {
    let Rig { h, risk } = rig();
    let user = h.create_user("jonas").await;
    expect_authenticated(h.login_from(&user, laptop_at("192.0.2.10")).await);
    let (first, assessed) = risk.last();
    assert_eq!(first.country.as_deref(), Some("CH"));
    assert!(
        !assessed.signals.contains(&RiskSignal::ImpossibleTravel),
        "a first sign-in has nothing to compare with"
    );

    h.advance(TimeDelta::minutes(30));
    expect_err(
        h.login_from(&user, laptop_at("198.51.100.20")).await,
        "login_blocked",
    );
    let (context, assessment) = risk.last();
    assert_eq!(context.country.as_deref(), Some("AU"));
    assert_eq!(context.known_countries, ["CH"]);
    let previous = context.previous.expect("the Zurich sighting");
    assert_eq!(previous.country.as_deref(), Some("CH"));
    let km = context
        .location
        .expect("Sydney is located")
        .distance_km(&previous.location.expect("Zurich is located"))
        .expect("both have coordinates");
    assert!(km > 16_000.0, "{km} km in 30 minutes");
    for signal in [
        RiskSignal::ImpossibleTravel,
        RiskSignal::NewCountry,
        RiskSignal::IpChange,
    ] {
        assert!(assessment.signals.contains(&signal), "{signal:?}");
    }
    assert_eq!(assessment.score, 100);

    let refused = events(&h, user.id, AuditKind::LoginRefused).await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].risk_score, Some(100));
    assert_eq!(refused[0].country.as_deref(), Some("AU"));
    assert_eq!(refused[0].metadata["reason"], "high_risk");
    let flagged = signals(&refused[0].metadata);
    assert!(flagged.contains(&"impossible_travel"), "{flagged:?}");
    assert!(flagged.contains(&"new_country"), "{flagged:?}");
    assert_eq!(h.notified(&user, NotificationKind::SuspiciousSignIn), 1);
    assert!(
        h.notification_texts().iter().any(|t| t.contains("AU")),
        "the alert names the country"
    );
    assert_eq!(
        h.mfa.sessions(user.id).await.expect("sessions").len(),
        1,
        "no session for the refused sign-in"
    );
}

/// Zurich, then Geneva ten minutes later from a remembered device: too fast
/// (about 1 300 km/h), but the same country: impossible travel and the IP
/// change reach the step-up threshold, not the block one, so the trusted
/// device must give its second factor, and the decision is audited.
#[tokio::test]
async fn impossible_travel_within_a_country_steps_up_a_trusted_device() {
    let Rig { h, risk } = rig();
    let user = h.user_with_totp("karin").await;
    let zurich = laptop_at("192.0.2.10");
    let remembered = h.sign_in_remembered(&user, &zurich).await;
    h.advance(TimeDelta::minutes(10));
    let geneva = ClientInfo {
        trust_token: remembered.trust_token.clone(),
        ..laptop_at("192.0.2.200")
    };
    expect_mfa_ticket(h.login_from(&user.user, geneva).await);
    let (_, assessment) = risk.last();
    assert_eq!(
        assessment.signals,
        [RiskSignal::IpChange, RiskSignal::ImpossibleTravel]
    );
    assert_eq!(assessment.score, 70);
    let stepped = events(&h, user.user.id, AuditKind::RiskAssessed).await;
    assert_eq!(stepped.len(), 1);
    assert_eq!(stepped[0].metadata["decision"], "step_up");
    assert_eq!(
        signals(&stepped[0].metadata),
        ["ip_change", "impossible_travel"]
    );
}

/// The same city twice, half an hour apart from two addresses: only the
/// IP change; no impossible travel, no new country, and the sign-in goes
/// through.
#[tokio::test]
async fn same_city_twice_is_no_impossible_travel() {
    let Rig { h, risk } = rig();
    let user = h.create_user("lea").await;
    expect_authenticated(h.login_from(&user, laptop_at("192.0.2.10")).await);
    h.advance(TimeDelta::minutes(30));
    let outcome = h.login_from(&user, laptop_at("192.0.2.99")).await;
    assert!(
        matches!(outcome, Ok(LoginOutcome::Authenticated(_))),
        "{outcome:?}"
    );
    let (context, assessment) = risk.last();
    assert_eq!(context.country.as_deref(), Some("CH"));
    assert!(
        context.previous.is_some(),
        "compared with the first sign-in"
    );
    assert_eq!(assessment.signals, [RiskSignal::IpChange]);
    assert!(
        events(&h, user.id, AuditKind::LoginRefused)
            .await
            .is_empty()
    );
    assert!(
        events(&h, user.id, AuditKind::RiskAssessed)
            .await
            .is_empty()
    );
}
