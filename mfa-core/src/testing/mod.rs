//! The store conformance suite: the behaviour every [`Store`] must have.
//!
//! The doc comments of the repository traits in [`crate::store`] are the
//! contract; each function here checks one property of it against a store,
//! and panics with a message naming the broken rule. Every backend runs the
//! whole suite, so all of them behave the same.
//!
//! # Running it
//!
//! In a store crate, add `mfa-core` with feature `testing` as a
//! dev-dependency (under the name `mfa_core`) and write one test file:
//!
//! ```
//! // tests/conformance.rs
//! async fn store() -> mfa_store_memory::MemoryStore {
//!     mfa_store_memory::MemoryStore::new()
//! }
//!
//! mfa_core::store_conformance_tests!(store);
//! ```
//!
//! [`store_conformance_tests!`](crate::store_conformance_tests) expands to
//! one `#[tokio::test]` per suite function, on a multi-thread runtime with 4
//! workers, named `store_conformance::<module>::<function>`. The factory
//! must return a fresh, empty, isolated store on every call. The calling
//! crate needs no tokio dependency of its own: the tests use the runtime
//! re-exported as [`tokio`](mod@tokio).
//!
//! Without the macro, [`conformance_tests`] lists the same functions, to be
//! run in a harness of one's own (inside a tokio runtime: the race tests
//! spawn tasks).
//!
//! # Writing a suite function
//!
//! Each function takes an `Arc<S>` with `S: Store`, creates its own users
//! and rows with fresh ids ([`fixtures`]), and uses fixed times from
//! [`fixtures::t0`], never the system clock, so tests do not depend on each
//! other even on a shared store. A new function must also be added to the
//! list in `__store_conformance_cases!` (in `testing/mod.rs`).

pub mod audit;
pub mod authenticator;
pub mod backup_codes;
pub mod capture;
pub mod chains;
pub mod challenges;
pub mod counting;
pub mod devices;
pub mod factors;
pub mod fixtures;
pub mod flow;
pub mod key_checks;
pub mod mmdb;
pub mod passkey_rig;
pub mod push_app;
pub mod push_requests;
pub mod races;
pub mod rate_limit;
pub mod sessions;
pub mod skip;
pub mod units;
pub mod users;

/// Runs `n` tasks made by `task` on the multi-thread runtime, released
/// together by a barrier, and returns their outputs in task order. The race
/// suites of both the store and the engine use it.
pub(crate) async fn race_all<F, Fut>(n: usize, task: F) -> Vec<Fut::Output>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let work = task(i);
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for handle in handles {
        results.push(handle.await.expect("a racing task panicked"));
    }
    results
}

/// The tokio the generated tests run on, so calling crates need no tokio
/// dependency of their own.
pub use tokio;

use crate::store::Store;
use futures::future::BoxFuture;
use std::fmt;
use std::sync::Arc;

/// One suite function, for running the suite without the macro.
pub struct ConformanceTest<S> {
    /// The module (aggregate) it belongs to, e.g. `"sessions"`.
    pub module: &'static str,
    /// The function name, which names the property it checks.
    pub name: &'static str,
    /// Runs the test against a store; the future panics on failure.
    pub run: fn(Arc<S>) -> BoxFuture<'static, ()>,
}

impl<S> fmt::Debug for ConformanceTest<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConformanceTest({}::{})", self.module, self.name)
    }
}

/// Every suite function, in suite order.
#[must_use]
pub fn conformance_tests<S: Store>() -> Vec<ConformanceTest<S>> {
    crate::__store_conformance_cases!(list)
}

/// Expands to one `#[tokio::test]` per conformance suite function, each run
/// on a fresh store from `factory`.
///
/// `factory` is a path to an `async fn() -> S` where `S: mfa_core::store::Store`;
/// it must return a fresh, empty, isolated store on every call. The tests
/// are placed in a module `store_conformance` (one submodule per aggregate)
/// and run on a multi-thread runtime with 4 workers. The calling crate must
/// depend on `mfa-core` under the name `mfa_core`, with feature `testing`;
/// it needs no tokio dependency.
///
/// ```
/// async fn store() -> mfa_store_memory::MemoryStore {
///     mfa_store_memory::MemoryStore::new()
/// }
///
/// mfa_core::store_conformance_tests!(store);
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:path) => {
        $crate::__store_conformance_cases!(tests $factory);
    };
    ($factory:path,) => {
        $crate::store_conformance_tests!($factory);
    };
}

/// The list of suite functions, expanded by a mode. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    ($mode:ident $($factory:path)?) => {
        $crate::__store_conformance_expand! { $mode ($($factory)?)
            users {
                user_round_trips_by_id_and_identifier,
                unknown_user_is_not_found,
                duplicate_identifier_is_a_conflict,
                soft_deleted_user_is_not_found_by_identifier,
                identifier_is_reusable_after_soft_delete,
                updates_of_unknown_or_deleted_user_fail,
                set_password_pushes_previous_hash_onto_history,
                password_history_is_trimmed_to_its_limit,
                set_contact_updates_contact_details,
                email_verification_is_conditional_and_cleared_by_a_new_address,
                set_status_updates_status,
                fifth_failure_locks_for_fifteen_minutes,
                locked_counter_refuses_until_the_lock_ends,
                password_and_mfa_counters_are_independent,
                reset_failures_clears_counter_and_lock,
                hard_cap_locks_until_reset,
                locked_users_are_listed_by_either_counter,
                purge_deleted_users_removes_only_users_deleted_before_cutoff,
            }
            factors {
                factor_round_trips,
                list_factors_is_oldest_first_and_excludes_deleted,
                factor_activates_only_from_pending,
                activation_refuses_disabled_deleted_and_unknown_factors,
                set_factor_status_changes_only_live_factors,
                set_factor_secret_replaces_the_sealed_secret,
                sealed_factors_are_listed_in_id_order_with_deleted_ones,
                reseal_factor_secret_replaces_only_the_expected_blob,
                set_factor_label_renames_only_live_factors,
                totp_step_is_accepted_once,
                totp_step_must_increase,
                touch_factor_records_last_use,
                soft_deleted_factor_is_kept_but_not_listed,
                soft_delete_factors_of_user_counts_live_factors,
                settings_are_put_and_replaced,
                purge_deleted_factors_removes_only_factors_deleted_before_cutoff,
            }
            backup_codes {
                backup_code_is_consumed_once,
                backup_code_is_spent_once_with_the_codes_left,
                remaining_backup_codes_decreases_with_each_use,
                backup_code_is_bound_to_its_user,
                replacing_backup_codes_invalidates_old_codes,
                replacing_backup_codes_affects_only_their_user,
                delete_backup_codes_removes_every_code,
            }
            challenges {
                challenge_round_trips,
                latest_challenge_is_the_newest_of_factor_and_purpose,
                new_challenge_supersedes_the_open_one,
                new_challenge_leaves_other_purposes_and_factors_open,
                challenge_attempts_are_counted_up_to_the_maximum,
                carried_over_attempts_count_against_the_maximum,
                closed_challenge_takes_no_attempts,
                challenge_is_consumed_once,
                expired_challenge_is_not_consumed,
                last_allowed_attempt_can_still_consume,
                ticket_is_found_by_token_hash,
                ticket_is_consumed_once,
                expired_ticket_is_not_consumed,
                purge_expired_challenges_removes_only_expired_rows,
                ceremony_is_taken_once_and_reads_back_whole,
                ceremony_without_user_round_trips,
                expired_ceremony_is_not_taken,
            }
            devices {
                first_sighting_creates_a_device,
                later_sighting_updates_the_same_device,
                null_metadata_keeps_stored_metadata,
                same_fingerprint_of_another_user_is_another_device,
                trusted_device_is_found_by_its_token_only,
                device_trust_ends_at_its_expiry,
                device_trust_is_bound_to_its_user,
                trusting_again_replaces_the_token,
                trust_token_rotates_only_from_the_current_hash,
                trust_token_does_not_rotate_without_trust,
                revoked_device_trust_fails_immediately,
                revoke_all_device_trust_revokes_every_device_of_the_user,
                compromised_device_loses_trust_for_good,
                soft_deleted_device_is_kept_but_not_trusted_or_listed,
                sighting_after_soft_delete_creates_a_new_device,
                list_devices_is_most_recently_seen_first,
                purge_deleted_devices_removes_only_devices_deleted_before_cutoff,
            }
            sessions {
                session_round_trips,
                list_sessions_excludes_revoked_and_expired_newest_first,
                authenticate_session_sets_assurance,
                authenticate_session_refuses_revoked_and_expired,
                revoked_session_refresh_tokens_are_revoked,
                revoke_user_sessions_spares_the_excepted_session,
                revoke_device_sessions_revokes_only_that_device,
                refresh_rotation_issues_a_child_in_the_same_family,
                rotated_token_expiry_is_capped_at_session_expiry,
                refresh_reuse_revokes_family_and_session,
                refresh_retry_within_grace_returns_the_kept_child,
                refresh_retry_at_the_grace_deadline_is_reuse,
                refresh_retry_after_the_child_rotated_is_reuse,
                refresh_retry_without_grace_is_reuse,
                expired_refresh_token_is_not_rotated,
                refresh_needs_an_active_unexpired_session,
                unknown_refresh_token_is_unknown,
                revoked_refresh_family_tokens_are_revoked,
                purge_sessions_removes_only_sessions_ended_before_cutoff,
            }
            audit {
                audit_event_round_trips,
                audit_events_are_returned_newest_first,
                audit_ties_on_time_are_ordered_by_id,
                audit_filters_by_user_session_and_device,
                audit_filters_by_kinds,
                audit_filters_by_outcome,
                audit_filters_by_half_open_time_range,
                audit_paging_returns_every_event_exactly_once,
                audit_paging_spans_months_and_years,
                audit_last_full_page_has_no_cursor,
                audit_chains_are_walked_by_chain_then_position,
                audit_chain_walk_resumes_after_a_position_and_stops_at_the_limit,
                linked_audit_event_round_trips,
                unlinked_audit_events_are_counted_from_a_time,
                audit_filters_by_link,
                unit_sees_its_own_audit_events_in_chain_walks_and_counts,
                chain_walk_before_a_time_returns_the_older_events_only,
                archived_prefixes_are_removed_and_nothing_else,
                audit_erasure_empties_one_users_personal_fields,
            }
            key_checks {
                key_check_round_trips,
                second_key_check_of_a_subject_does_not_overwrite,
                key_checks_of_different_keys_are_kept_apart,
                removed_key_check_is_gone_and_can_be_written_again,
            }
            push_requests {
                push_request_round_trips,
                push_request_is_resolved_once,
                expired_push_request_is_not_resolved,
                answered_push_request_is_not_resolved_again,
                approved_push_request_is_consumed_once,
                only_approved_push_requests_are_consumed,
                expired_approval_is_not_consumed,
                pending_push_requests_are_counted_per_user,
                purge_push_requests_removes_only_requests_expired_before_cutoff,
                duplicate_push_request_id_is_a_conflict,
                push_request_of_an_unknown_user_is_refused,
                push_factor_round_trips_and_can_be_preferred,
                push_enrolment_ceremony_round_trips,
            }
            rate_limit {
                hits_up_to_the_limit_are_allowed,
                refused_hits_are_not_recorded,
                hits_are_allowed_again_once_the_window_slides,
                rate_limit_keys_are_independent,
                hits_in_order_stop_at_the_first_refusal,
                sliding_window_never_allows_more_than_the_limit,
                purge_forgets_only_expired_hits,
            }
            races {
                concurrent_backup_code_uses_succeed_once,
                concurrent_challenge_consumptions_succeed_once,
                concurrent_challenge_attempts_never_exceed_the_maximum,
                concurrent_totp_step_acceptances_succeed_once,
                concurrent_factor_activations_succeed_once,
                concurrent_refresh_rotations_rotate_once,
                concurrent_rotations_with_grace_retry_one_child,
                concurrent_failures_stop_counting_at_the_lock,
                concurrent_rate_limit_hits_allow_exactly_the_limit,
                concurrent_first_sightings_create_one_device,
                concurrent_ticket_consumptions_succeed_once,
                concurrent_trust_token_rotations_succeed_once,
                revoking_a_family_during_rotations_leaves_no_usable_token,
                concurrent_ceremony_takes_succeed_once,
                concurrent_key_check_inserts_store_one,
                concurrent_reseals_of_one_blob_write_once,
                concurrent_push_resolutions_succeed_once,
                concurrent_push_consumptions_succeed_once,
            }
        }
    };
}

/// Expands to one test per function of [`units`](crate::testing::units)
/// (the [`UnitOfWork`](crate::store::UnitOfWork) contract), on a fresh store from `factory`, like
/// [`store_conformance_tests!`](crate::store_conformance_tests); the store
/// must implement [`UnitOfWork`](crate::store::UnitOfWork). The tests are
/// placed in a module `store_conformance::units`, so use a test file of
/// their own.
///
/// ```
/// async fn store() -> mfa_store_memory::MemoryStore {
///     mfa_store_memory::MemoryStore::new()
/// }
///
/// mfa_core::unit_of_work_conformance_tests!(store);
/// ```
#[macro_export]
macro_rules! unit_of_work_conformance_tests {
    ($factory:path) => {
        $crate::__store_conformance_expand!(tests ($factory)
            units {
                committed_unit_keeps_every_write,
                rolled_back_unit_leaves_no_trace,
                dropped_unit_is_rolled_back,
                unit_failing_at_its_last_write_keeps_nothing,
                rollback_restores_changed_rows,
                unit_reads_its_own_writes,
                sign_in_context_and_its_writes_match_the_single_calls,
                refused_attempt_commits_failure_and_audit,
                concurrent_units_spend_one_backup_code_once,
                concurrent_units_stop_counting_failures_at_the_lock,
                push_request_writes_commit_and_roll_back_with_the_unit,
                concurrent_units_resolve_a_push_request_once,
                concurrent_units_consume_a_push_request_once,
            }
        );
    };
}

/// Turns the list of suite functions into tests or a `Vec`. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_expand {
    (tests ($factory:path) $($module:ident { $($name:ident),* $(,)? })*) => {
        #[allow(unused_imports)]
        mod store_conformance {
            use super::*;
            $(
                mod $module {
                    use super::*;
                    $(
                        #[$crate::testing::tokio::test(
                            flavor = "multi_thread",
                            worker_threads = 4,
                            crate = "::mfa_core::testing::tokio"
                        )]
                        async fn $name() {
                            $crate::testing::$module::$name(::std::sync::Arc::new($factory().await)).await;
                        }
                    )*
                }
            )*
        }
    };
    (list () $($module:ident { $($name:ident),* $(,)? })*) => {
        vec![
            $($(
                $crate::testing::ConformanceTest {
                    module: stringify!($module),
                    name: stringify!($name),
                    run: |store| ::std::boxed::Box::pin($crate::testing::$module::$name(store)),
                },
            )*)*
        ]
    };
}
