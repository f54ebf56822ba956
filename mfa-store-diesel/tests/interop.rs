//! Interoperability with `mfa-store-sqlx`: both crates use one schema, so
//! data written through one store is read and used through the other on the
//! same database — the sealed TOTP seed opens (same `KeyRing`), the backup
//! codes are consumed once, the session refreshes, and the TOTP replay guard
//! holds across both. Each direction on SQLite, and on PostgreSQL and
//! MySQL/MariaDB when their URLs are set. The second store's `migrate()` runs
//! on the first one's schema and must find nothing to do.
#![cfg(feature = "sqlite")]

mod common;

use mfa_core::Mfa;
use mfa_core::clock::ManualClock;
use mfa_core::crypto::{ExposeSecret, JwtConfig, JwtKeys, KeyRing, PasswordHasher};
use mfa_core::model::FactorKind;
use mfa_core::store::Store;
use mfa_core::testing::capture::{CapturingChannel, CapturingPush};
use mfa_core::testing::flow::harness::{Harness, test_policy};
use std::sync::Arc;

/// An engine on `store` whose keys are fixed, so two engines on two stores
/// open each other's sealed secrets and tokens.
fn engine<S: Store>(store: Arc<S>, clock: Arc<ManualClock>) -> Harness<S> {
    let email = Arc::new(CapturingChannel::email());
    let sms = Arc::new(CapturingChannel::sms());
    let push = Arc::new(CapturingPush::new());
    let keys = KeyRing::builder()
        .aead_key(1, &[0x11; 32])
        .current(1)
        .root_secret(&[0x22; 32])
        .build()
        .expect("the key ring builds");
    let mfa = Mfa::builder()
        .store(Arc::clone(&store))
        .email(email.clone())
        .sms(sms.clone())
        .push(push.clone())
        .keys(keys)
        .tokens(
            JwtConfig::new("https://issuer.test", "mfa-interop"),
            JwtKeys::hs256("k1", &[0x33; 32]).expect("an HS256 key"),
        )
        .password_hasher(PasswordHasher::insecure_fast_for_tests())
        .clock(clock.clone())
        .policy(test_policy())
        .build()
        .expect("the engine builds");
    Harness {
        mfa,
        store,
        clock,
        email,
        sms,
        push,
    }
}

/// Enrols a user with TOTP and backup codes and opens a session through
/// `writer`, then signs in, refreshes and spends codes through `reader`.
async fn written_by_one_store_used_by_the_other<W: Store, R: Store>(
    writer: Arc<W>,
    reader: Arc<R>,
) {
    let clock = Arc::new(ManualClock::default());
    let writer = engine(writer, clock.clone());
    let reader = engine(reader, clock);

    let user = writer.create_user("interop").await;
    let tokens = writer.sign_in(&user).await;
    let (factor_id, secret, backup_codes) = writer.enroll_totp_for(&tokens).await;
    assert!(
        backup_codes.len() >= 2,
        "backup codes come with the first factor"
    );

    // The factor and codes are visible through the other store.
    let factors = reader
        .store
        .list_factors(user.id)
        .await
        .expect("list factors");
    assert!(
        factors
            .iter()
            .any(|f| f.id == factor_id && f.secret.is_some())
    );
    let issued = u32::try_from(backup_codes.len()).expect("a small count");
    assert_eq!(
        reader
            .store
            .remaining_backup_codes(user.id)
            .await
            .expect("count codes"),
        issued
    );

    // The session written by one store refreshes through the other.
    let refreshed = reader
        .mfa
        .refresh(&tokens.refresh_token, &reader.client())
        .await
        .expect("the refresh token rotates through the other store");
    reader
        .mfa
        .authenticate(&refreshed.access_token)
        .await
        .expect("the refreshed access token authenticates");

    // The sealed seed opens: password + TOTP through the other store.
    let ticket = reader.mfa_ticket(&user).await;
    reader.next_step();
    let code = reader.totp_code(&secret);
    let verified = reader
        .verify(&ticket, FactorKind::Totp, &code)
        .await
        .expect("TOTP enrolled through one store verifies through the other");
    reader
        .mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .expect("the new session authenticates");

    // The replay guard is shared: the same step is refused through the first.
    let ticket = writer.mfa_ticket(&user).await;
    assert!(
        writer
            .verify(&ticket, FactorKind::Totp, &code)
            .await
            .is_err(),
        "a TOTP code accepted through one store is refused through the other"
    );

    // A backup code issued through one store is consumed through the other,
    // once.
    let backup = backup_codes[0].expose_secret().to_owned();
    let ticket = reader.mfa_ticket(&user).await;
    let verified = reader
        .verify(&ticket, FactorKind::BackupCodes, &backup)
        .await
        .expect("a backup code issued through one store is accepted by the other");
    assert_eq!(verified.backup_codes_remaining, Some(issued - 1));
    let ticket = writer.mfa_ticket(&user).await;
    assert!(
        writer
            .verify(&ticket, FactorKind::BackupCodes, &backup)
            .await
            .is_err(),
        "a used backup code is refused through the first store too"
    );
}

async fn sqlite_pair() -> (
    mfa_store_sqlx::SqliteStore,
    mfa_store_diesel::SqliteStore,
    String,
) {
    let url = format!("sqlite://{}", common::sqlite_path().display());
    let sqlx_store = mfa_store_sqlx::SqliteStore::connect(&url, 4)
        .await
        .expect("sqlx opens the file");
    let diesel_store = mfa_store_diesel::SqliteStore::connect(&url, 4)
        .await
        .expect("diesel opens the file");
    (sqlx_store, diesel_store, url)
}

#[mfa_core::testing::tokio::test(flavor = "multi_thread", crate = "::mfa_core::testing::tokio")]
async fn sqlite_data_written_by_sqlx_is_used_by_diesel() {
    let (sqlx_store, diesel_store, _) = sqlite_pair().await;
    sqlx_store.migrate().await.expect("sqlx migrates");
    diesel_store
        .migrate()
        .await
        .expect("diesel accepts the sqlx schema");
    written_by_one_store_used_by_the_other(Arc::new(sqlx_store), Arc::new(diesel_store)).await;
}

#[mfa_core::testing::tokio::test(flavor = "multi_thread", crate = "::mfa_core::testing::tokio")]
async fn sqlite_data_written_by_diesel_is_used_by_sqlx() {
    let (sqlx_store, diesel_store, _) = sqlite_pair().await;
    diesel_store.migrate().await.expect("diesel migrates");
    sqlx_store
        .migrate()
        .await
        .expect("sqlx accepts the diesel schema");
    written_by_one_store_used_by_the_other(Arc::new(diesel_store), Arc::new(sqlx_store)).await;
}

#[cfg(feature = "postgres")]
mfa_store_sql::if_database! { postgres,
    mod postgres {
        use super::*;

        async fn pair() -> (mfa_store_sqlx::PgStore, mfa_store_diesel::PgStore) {
            let prefix = common::unique_prefix();
            // The diesel store migrates here; the sqlx store then finds it done.
            let diesel_store = common::postgres_store_with_prefix(&prefix).await;
            let pool = mfa_store_sqlx::sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .connect(&common::postgres_url())
                .await
                .expect("sqlx connects");
            let sqlx_store = mfa_store_sqlx::PgStore::with_prefix(pool, &prefix).expect("prefix");
            sqlx_store
                .migrate()
                .await
                .expect("sqlx accepts the diesel schema");
            (sqlx_store, diesel_store)
        }

        #[mfa_core::testing::tokio::test(flavor = "multi_thread", crate = "::mfa_core::testing::tokio")]
        async fn postgres_data_written_by_sqlx_is_used_by_diesel() {
            let (sqlx_store, diesel_store) = pair().await;
            written_by_one_store_used_by_the_other(Arc::new(sqlx_store), Arc::new(diesel_store)).await;
        }

        #[mfa_core::testing::tokio::test(flavor = "multi_thread", crate = "::mfa_core::testing::tokio")]
        async fn postgres_data_written_by_diesel_is_used_by_sqlx() {
            let (sqlx_store, diesel_store) = pair().await;
            written_by_one_store_used_by_the_other(Arc::new(diesel_store), Arc::new(sqlx_store)).await;
        }
    }
}

#[cfg(feature = "mysql")]
mfa_store_sql::if_database! { mysql,
    mod mysql {
        use super::*;

        async fn pair() -> (mfa_store_sqlx::MySqlStore, mfa_store_diesel::MySqlStore) {
            let prefix = common::unique_prefix();
            let pool = mfa_store_sqlx::sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(4)
                .connect(&common::mysql_url())
                .await
                .expect("sqlx connects");
            let sqlx_store = mfa_store_sqlx::MySqlStore::with_prefix(pool, &prefix).expect("prefix");
            // The sqlx store migrates here; the diesel store then finds it done.
            sqlx_store.migrate().await.expect("sqlx migrates");
            let diesel_store = common::mysql_store_with_prefix(&prefix).await;
            (sqlx_store, diesel_store)
        }

        #[mfa_core::testing::tokio::test(flavor = "multi_thread", crate = "::mfa_core::testing::tokio")]
        async fn mysql_data_written_by_sqlx_is_used_by_diesel() {
            let (sqlx_store, diesel_store) = pair().await;
            written_by_one_store_used_by_the_other(Arc::new(sqlx_store), Arc::new(diesel_store)).await;
        }

        #[mfa_core::testing::tokio::test(flavor = "multi_thread", crate = "::mfa_core::testing::tokio")]
        async fn mysql_data_written_by_diesel_is_used_by_sqlx() {
            let (sqlx_store, diesel_store) = pair().await;
            written_by_one_store_used_by_the_other(Arc::new(diesel_store), Arc::new(sqlx_store)).await;
        }
    }
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_interop_is_skipped_without_its_feature() {
    mfa_core::testing::skip::skip(
        "postgres_interop_is_skipped_without_its_feature",
        "feature `postgres` is off",
    );
}

#[cfg(not(feature = "mysql"))]
#[test]
fn mysql_interop_is_skipped_without_its_feature() {
    mfa_core::testing::skip::skip(
        "mysql_interop_is_skipped_without_its_feature",
        "feature `mysql` is off",
    );
}
