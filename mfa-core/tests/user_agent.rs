//! The device description read from the `User-Agent` (feature
//! `user-agent`), end to end on the memory store: what the engine records,
//! lists and tells the user when a client sends the header but no device
//! details of its own.
#![cfg(all(feature = "user-agent", feature = "testing"))]

use mfa_core::ClientInfo;
use mfa_core::model::{DeviceInfo, DeviceKind, NotificationKind};
use mfa_core::testing::flow::harness::{Harness, expect_authenticated, expect_err};
use mfa_store_memory::MemoryStore;
use std::sync::Arc;

const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) \
    AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";

fn harness() -> Harness<MemoryStore> {
    Harness::new(Arc::new(MemoryStore::new()))
}

fn with_agent(client: ClientInfo, user_agent: &str) -> ClientInfo {
    ClientInfo {
        user_agent: Some(user_agent.to_owned()),
        ..client
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_agent_alone_describes_the_recorded_and_notified_device() {
    let h = harness();
    let user = h.create_user("ursula").await;
    h.sign_in(&user).await;
    let laptop = with_agent(h.client_on("fp-laptop"), CHROME_WINDOWS);
    expect_authenticated(h.login_from(&user, laptop).await);

    let devices = h.mfa.devices(user.id).await.expect("devices");
    let recorded = devices
        .iter()
        .find(|d| d.info.browser.is_some())
        .expect("the laptop is described");
    assert_eq!(
        recorded.info,
        DeviceInfo {
            kind: DeviceKind::Web,
            browser: Some("Chrome".into()),
            browser_version: Some("120.0.0.0".into()),
            os: Some("Windows 10".into()),
            os_version: Some("NT 10.0".into()),
            ..DeviceInfo::default()
        }
    );
    assert_eq!(h.notified(&user, NotificationKind::NewDeviceLogin), 1);
    assert!(
        h.notification_texts()
            .iter()
            .any(|t| t.contains("Chrome on Windows 10")),
        "{:?}",
        h.notification_texts()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_the_client_sent_win_over_the_user_agent() {
    let h = harness();
    let user = h.create_user("vera").await;
    let phone = ClientInfo {
        device: DeviceInfo {
            kind: DeviceKind::Mobile,
            name: Some("Vera's phone".into()),
            browser: Some("Our App".into()),
            ..DeviceInfo::default()
        },
        ..with_agent(h.client_on("fp-phone"), SAFARI_IPHONE)
    };
    let described = phone.described_device();
    assert_eq!(described.kind, DeviceKind::Mobile);
    assert_eq!(described.name.as_deref(), Some("Vera's phone"));
    assert_eq!(described.browser.as_deref(), Some("Our App"));
    // The gaps come from the user agent.
    assert_eq!(described.os.as_deref(), Some("iPhone"));
    assert_eq!(described.os_version.as_deref(), Some("17.1"));

    expect_authenticated(h.login_from(&user, phone).await);
    let devices = h.mfa.devices(user.id).await.expect("devices");
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].info, described);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_sign_in_keeps_the_registered_name_and_updates_the_browser() {
    let h = harness();
    let user = h.create_user("wanda").await;
    let tokens = h.sign_in(&user).await;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    let named = ClientInfo {
        device: DeviceInfo {
            name: Some("Wanda's laptop".into()),
            ..DeviceInfo::default()
        },
        ..h.client_on("fp-wanda")
    };
    h.mfa
        .register_device(&claims, &named)
        .await
        .expect("register_device");
    let bare = with_agent(h.client_on("fp-wanda"), CHROME_WINDOWS);
    expect_authenticated(h.login_from(&user, bare).await);
    let device = h
        .mfa
        .devices(user.id)
        .await
        .expect("devices")
        .into_iter()
        .find(|d| d.info.name.is_some())
        .expect("the registered device");
    assert_eq!(device.info.name.as_deref(), Some("Wanda's laptop"));
    assert_eq!(device.info.browser.as_deref(), Some("Chrome"));
    assert_eq!(device.info.description().as_deref(), Some("Wanda's laptop"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_is_recorded_as_an_api_client() {
    let h = harness();
    let user = h.create_user("xena").await;
    let script = with_agent(h.client_on("fp-script"), "curl/8.5.0");
    expect_authenticated(h.login_from(&user, script).await);
    let devices = h.mfa.devices(user.id).await.expect("devices");
    assert_eq!(devices[0].info.kind, DeviceKind::Api);
    assert_eq!(devices[0].info.browser.as_deref(), Some("curl"));
    assert_eq!(devices[0].info.browser_version.as_deref(), Some("8.5.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_user_agents_are_refused_before_anything_is_recorded() {
    let h = harness();
    let user = h.create_user("yuri").await;
    let long = with_agent(
        h.client_on("fp-long"),
        &format!(
            "{CHROME_WINDOWS} {}",
            "x".repeat(mfa_core::MAX_USER_AGENT_LEN)
        ),
    );
    assert_eq!(long.described_device(), DeviceInfo::default());
    expect_err(h.login_from(&user, long).await, "invalid_input");
    let control = with_agent(
        h.client_on("fp-control"),
        &format!("{CHROME_WINDOWS}\r\nX: 1"),
    );
    assert_eq!(control.described_device(), DeviceInfo::default());
    expect_err(h.login_from(&user, control).await, "invalid_input");
    assert!(h.mfa.devices(user.id).await.expect("devices").is_empty());
}
