//! The engine flow suite: the behaviour of [`Mfa`](crate::Mfa) end to end,
//! on a real store.
//!
//! Where the store conformance suite ([`crate::testing`]) checks each
//! repository trait on its own, this suite drives the whole engine (sign-in,
//! second factors, enrolment, devices, sessions, administration) through
//! its public API and checks what a user, an attacker and an auditor would
//! see: typed outcomes, stable error codes, audit events and notifications.
//! Tests named `rNN_…` prove requirement RNN of the security requirements
//! (listed with their tests in the repository's `docs/security.md`); the
//! others prove documented behaviour.
//!
//! # Running it
//!
//! In a store crate, with `mfa-core` (feature `testing`) as a
//! dev-dependency under the name `mfa_core`:
//!
//! ```
//! // tests/flow.rs
//! async fn store() -> mfa_store_memory::MemoryStore {
//!     mfa_store_memory::MemoryStore::new()
//! }
//!
//! mfa_core::flow_tests!(store);
//! ```
//!
//! [`flow_tests!`](crate::flow_tests) expands to one `#[tokio::test]` per
//! suite function, on a multi-thread runtime with 4 workers, named
//! `flow::<module>::<function>`. The factory must return a fresh, empty,
//! isolated store on every call: unlike the conformance suite, flow tests
//! count audit events and rate-limit hits of the whole store. The calling
//! crate needs no tokio dependency of its own.
//!
//! Without the macro, [`flow_tests()`] lists the same functions, to be run in
//! a harness of one's own (inside a multi-thread tokio runtime: the race
//! tests spawn tasks).
//!
//! # Writing a suite function
//!
//! Each function is `pub async fn name<S: Store>(store: Arc<S>)`, checks one
//! property and panics with a message naming it when it does not hold. It
//! builds its engine with [`harness::Harness`] (a manual clock, capturing
//! email and SMS channels, cheap password hashing) and moves time with
//! [`harness::Harness::advance`], never by sleeping. A TOTP code is accepted
//! once per step: call [`harness::Harness::next_step`] before using a new
//! one. A new function must also be added to the list in `__flow_cases!`
//! (in `testing/flow/mod.rs`).

pub mod admin;
pub mod challenge;
pub mod counts;
pub mod devices;
pub mod enforcement;
pub mod enroll;
pub mod harness;
pub mod keys;
pub mod login;
pub mod passkeys;
pub mod passwords;
pub mod push;
pub mod races;
pub mod recovery;
pub mod sessions;
pub mod verify;

use crate::store::Store;
use futures::future::BoxFuture;
use std::fmt;
use std::sync::Arc;

/// One flow suite function, for running the suite without the macro.
pub struct FlowTest<S> {
    /// The module (step of the flow) it belongs to, e.g. `"verify"`.
    pub module: &'static str,
    /// The function name, which names the property it checks.
    pub name: &'static str,
    /// Runs the test against a fresh store; the future panics on failure.
    pub run: fn(Arc<S>) -> BoxFuture<'static, ()>,
}

impl<S> fmt::Debug for FlowTest<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FlowTest({}::{})", self.module, self.name)
    }
}

/// Every flow suite function, in suite order.
#[must_use]
pub fn flow_tests<S: Store>() -> Vec<FlowTest<S>> {
    crate::__flow_cases!(list)
}

/// Expands to one `#[tokio::test]` per flow suite function, each run on a
/// fresh store from `factory`.
///
/// `factory` is a path to an `async fn() -> S` where `S: mfa_core::store::Store`;
/// it must return a fresh, empty, isolated store on every call. The tests
/// are placed in a module `flow` (one submodule per step of the flow) and
/// run on a multi-thread runtime with 4 workers. The calling crate must
/// depend on `mfa-core` under the name `mfa_core`, with feature `testing`;
/// it needs no tokio dependency.
///
/// ```
/// async fn store() -> mfa_store_memory::MemoryStore {
///     mfa_store_memory::MemoryStore::new()
/// }
///
/// mfa_core::flow_tests!(store);
/// ```
#[macro_export]
macro_rules! flow_tests {
    ($factory:path) => {
        $crate::__flow_cases!(tests $factory);
    };
    ($factory:path,) => {
        $crate::flow_tests!($factory);
    };
}

/// The list of flow suite functions, expanded by a mode. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __flow_cases {
    ($mode:ident $($factory:path)?) => {
        $crate::__flow_expand! { $mode ($($factory)?)
            login {
                password_without_mfa_signs_in_at_aal1,
                identifier_is_matched_trimmed_and_case_insensitively,
                password_with_totp_enrolled_requires_mfa,
                wrong_password_is_invalid_credentials,
                r53_unknown_user_and_wrong_password_fail_alike,
                password_lockout_refuses_the_right_password_while_locked,
                password_lock_ends_when_its_time_is_up,
                r25_password_lock_is_audited_and_notified,
                per_identifier_rate_limit_answers_rate_limited,
                r46_rate_limited_sign_in_is_audited,
                per_ip_rate_limit_spans_identifiers,
                malformed_identifier_is_invalid_input,
                malformed_password_is_invalid_input,
                malformed_client_is_invalid_input,
                primary_auth_by_the_host_requires_mfa_too,
                disabled_user_is_refused,
                disabling_a_user_ends_their_sessions,
                deleted_user_is_refused,
            }
            passwords {
                nist_63b_5_1_1_2_common_password_is_refused_at_sign_up,
                nist_63b_5_1_1_2_common_password_is_refused_at_password_change,
                nist_63b_5_1_1_2_password_with_the_identifier_or_product_name_is_refused,
                host_password_blocklist_is_honoured,
                common_password_check_can_be_turned_off,
                r56_password_rechecks_are_counted_and_lock_like_sign_ins,
            }
            enforcement {
                enforcement_all_asks_a_user_without_factors_to_enrol,
                grace_deadline_is_set_once,
                grace_period_allows_signing_in_without_mfa,
                grace_period_ends_at_the_deadline,
                enrollment_ticket_is_single_use,
                enrolling_with_the_ticket_completes_sign_in_at_aal2,
                r37_enrolment_ticket_cannot_change_factors_once_one_is_enrolled,
                per_user_enforcement_applies_after_set_enforcement,
                enforcement_off_never_asks_for_a_second_factor,
                set_enforcement_checks_its_input,
            }
            challenge {
                email_code_completes_sign_in,
                r14_email_code_gives_aal1_under_the_nist_profile,
                r14_sms_cannot_be_the_only_factor_under_the_nist_profile,
                r14_sms_cannot_be_the_first_factor_under_the_nist_profile,
                sms_code_completes_sign_in,
                wrong_email_code_is_invalid_code,
                r10_code_is_bound_to_its_ticket,
                r10_code_is_accepted_once,
                r12_email_code_never_appears_in_the_audit_log,
                r9_email_code_verifies_until_just_before_ten_minutes,
                r9_email_code_expires_after_ten_minutes,
                r13_resend_before_cooldown_is_rate_limited,
                r46_refused_resend_is_audited,
                r11_resend_invalidates_the_previous_code,
                r11_resend_keeps_the_failure_counts,
                challenge_refuses_the_right_code_after_its_attempt_cap,
                r13_sends_per_destination_are_capped,
                send_on_an_unenrolled_channel_is_method_unavailable,
                failed_delivery_answers_delivery_failed,
            }
            verify {
                totp_code_completes_sign_in_at_aal2,
                a_step_cut_short_by_an_internal_error_leaves_nothing,
                ticket_info_describes_a_ticket_without_using_it,
                wrong_totp_code_is_invalid_code,
                r49_malformed_codes_are_invalid_code,
                r4_totp_code_is_rejected_when_replayed,
                r4_totp_step_must_increase,
                r5_totp_code_of_the_previous_step_is_accepted,
                r5_totp_code_of_the_next_step_is_accepted,
                r5_totp_code_two_steps_old_is_rejected,
                expired_ticket_is_challenge_expired,
                ticket_cannot_be_used_twice,
                unknown_ticket_is_invalid_ticket,
                method_not_enrolled_is_method_unavailable,
                r17_backup_code_is_rejected_when_reused,
                backup_code_is_accepted_in_any_case_without_dashes,
                backup_code_use_is_counted_audited_and_notified,
                r48_low_backup_codes_alert_fires_at_the_threshold,
                used_up_backup_codes_are_no_longer_offered,
                r20_wrong_codes_lock_the_second_factor,
                r25_right_code_is_refused_while_locked,
                r21_failures_across_tickets_and_methods_add_up,
                r23_success_resets_the_failure_counter,
                r22_lock_ends_when_its_time_is_up,
                r22_next_lock_lasts_twice_as_long,
                r25_lock_is_audited_and_notified_once,
                unlock_lifts_the_lock,
            }
            enroll {
                first_confirmed_factor_comes_with_ten_backup_codes,
                second_factor_keeps_the_backup_codes,
                unconfirmed_factor_is_not_used_for_sign_in,
                wrong_confirmation_code_counts_toward_the_lockout,
                r37_factor_change_with_a_stale_session_needs_step_up,
                r37_factor_change_from_an_aal1_session_needs_step_up,
                r19_regenerated_backup_codes_replace_the_old_ones,
                r29_removing_a_factor_ends_device_trust_and_other_sessions,
                removing_the_last_factor_removes_backup_codes,
                removing_another_users_factor_is_not_found,
                email_enrolment_is_confirmed_by_the_code_sent,
                sms_enrolment_is_confirmed_by_the_code_sent,
                wrong_email_confirmation_code_is_invalid_code,
                invalid_destination_is_invalid_input,
                disabled_method_cannot_be_enrolled,
            }
            devices {
                remembered_device_skips_the_second_factor_at_aal1,
                r26_trust_token_rotates_and_the_old_one_stops_working,
                r27_device_trust_expires_after_thirty_days,
                r29_revoked_device_trust_fails_at_once,
                r29_revoke_all_devices_ends_every_trust,
                trust_token_from_another_fingerprint_is_not_trusted,
                trust_token_is_bound_to_its_user,
                r28_remembering_a_device_is_audited_and_notified,
                compromised_device_loses_sessions_and_cannot_sign_in,
                another_users_device_is_not_found,
                r60_missing_ip_requires_mfa_even_on_a_trusted_device,
                r59_risk_never_raises_assurance,
                r60_high_risk_sign_in_is_blocked_and_notified,
                r60_step_up_risk_overrides_device_trust,
                r60_new_device_sign_in_is_notified,
    registering_a_device_records_it_without_trust,
            }
            sessions {
                r38_refresh_rotates_the_refresh_token,
                r39_refresh_reuse_revokes_family_and_session,
                refresh_reuse_spares_other_sessions,
                refresh_retry_within_the_grace_gets_the_same_refresh_token,
                refresh_retry_after_the_grace_revokes_the_family,
                refresh_retry_of_an_older_token_revokes_the_family,
                refresh_reuse_grace_is_off_by_default,
                r40_session_ends_at_its_absolute_lifetime_despite_refreshes,
                r40_idle_refresh_token_expires,
                r36_nist_profile_ends_sessions_after_30_min_idle_and_12_h,
                unknown_refresh_token_is_invalid_token,
                authenticate_rejects_garbage_and_tampered_tokens,
                r33_expired_access_token_is_rejected,
                r35_logout_invalidates_the_access_token,
                r35_password_change_ends_other_sessions,
                require_recent_mfa_accepts_a_fresh_mfa_session,
                require_recent_mfa_refuses_an_old_mfa_session,
                require_recent_mfa_refuses_an_aal1_session,
                r37_step_up_replaces_the_session,
                step_up_without_factors_is_method_unavailable,
                sessions_are_listed_with_their_devices,
                revoke_session_ends_one_session,
                revoke_all_sessions_keeps_only_the_excepted_one,
            }
            passkeys {
                passkey_registers_and_answers_a_ticket_at_aal2,
                first_passkey_comes_with_backup_codes,
                passkey_registration_needs_a_recent_second_factor,
                passkey_registration_refuses_a_wrong_origin_and_stores_nothing,
                passkey_registration_refuses_an_answer_for_another_ceremony,
                replayed_assertion_is_refused,
                assertion_for_an_expired_ceremony_is_refused,
                assertion_from_a_wrong_origin_counts_as_a_failure,
                assertion_without_user_verification_is_refused,
                tampered_assertions_are_refused,
                malformed_answers_are_refused_before_anything_is_stored,
                cloned_authenticator_is_refused_disabled_audited_and_notified,
                wrong_passkey_answers_lock_the_second_factor,
                concurrent_answers_with_one_assertion_succeed_once,
                passwordless_passkey_signs_in_at_aal2,
                passwordless_options_name_no_account,
                passwordless_answer_is_single_use,
                passwordless_refuses_unknown_and_disabled_accounts,
                passwordless_follows_the_policy,
                passwordless_clone_is_refused_and_disabled,
                passkey_is_renamed_and_removed,
                authenticator_allow_list_decides_registration,
                passkey_registered_with_the_enrolment_ticket_completes_sign_in,
                registration_answers_are_refused_with_their_reason,
                assertion_by_an_unknown_credential_is_refused,
                passkey_options_are_rate_limited_per_user,
            }
            push {
                approve_with_the_number_completes_the_sign_in_at_aal2,
                approve_without_user_verification_proves_possession_only,
                policy_can_require_user_verification,
                deny_refuses_the_sign_in,
                wrong_number_refuses_and_counts_toward_the_lockout,
                an_expired_request_cannot_be_answered_or_completed,
                a_stale_answer_is_refused,
                a_replayed_answer_is_refused,
                a_late_approval_is_closed_without_touching_the_counter,
                an_answer_signed_by_another_devices_key_is_refused,
                concurrent_answers_exactly_one_wins,
                fatigue_limits_cap_the_pushes,
                fatigue_window_caps_the_requests,
                a_risky_sign_in_may_not_ask_for_a_push,
                not_me_denies_locks_audits_and_notifies,
                a_gone_address_turns_the_device_off,
                an_approval_completes_only_its_own_ticket,
                step_up_by_push,
                push_texts_speak_the_users_language_and_the_hosts_words,
                enrolment_needs_the_proof_and_is_single_use,
                malformed_enrolments_are_refused_and_store_nothing,
                duplicate_keys_extra_devices_and_stale_sessions_are_refused,
                a_removed_app_cannot_answer,
            }
            counts {
                each_step_commits_once_with_pinned_round_trips,
            }
            recovery {
                reset_requests_answer_alike_and_send_only_to_a_verified_address,
                reset_changes_the_password_and_never_bypasses_the_second_factor,
                reset_links_are_single_use_expiring_and_bound_to_the_account,
                email_verification_is_bound_to_the_address,
                reset_requests_are_rate_limited_alike,
                unverified_addresses_get_notifications_only_when_the_policy_allows,
            }
            admin {
                r46_full_scenario_audits_at_least_twenty_kinds,
                r47_no_secret_reaches_the_audit_log_or_notifications,
                audit_events_page_through_every_event_once,
                audit_events_filter_by_user_kind_and_outcome,
                reset_mfa_removes_factors_trust_and_sessions,
                operator_calls_name_the_operator_in_their_audit_events,
                export_holds_the_users_data_and_no_secret,
                users_delete_their_own_account,
                settings_report_factors_and_backup_codes,
                deleted_user_loses_sessions_and_sign_in,
                purge_removes_expired_rows_and_keeps_live_ones,
                locked_users_lists_a_locked_account_until_its_unlock,
            }
            keys {
                open_refuses_a_key_ring_that_does_not_match_the_store,
                open_refuses_another_root_secret,
                open_records_a_new_key_and_refuses_a_ring_without_an_old_one,
                secrets_written_before_a_restart_work_after_it_with_the_same_keys,
                concurrent_opens_on_a_new_store_agree_on_one_key_ring,
                a_full_key_rotation_leaves_every_factor_verifying_under_the_new_key,
                a_rotation_reports_an_unreadable_secret_and_keeps_its_key,
                a_root_rotation_keeps_backup_codes_trusted_devices_and_audit_links,
            }
            races {
                r54_concurrent_verifies_with_one_totp_code_succeed_once,
                r55_concurrent_uses_of_one_backup_code_succeed_once,
                r55_concurrent_verifies_of_one_email_code_succeed_once,
                r57_concurrent_refreshes_with_one_token_rotate_once,
                r57_concurrent_refreshes_within_the_grace_get_one_pair,
                r56_concurrent_wrong_codes_stop_counting_at_the_threshold,
                r58_session_revocation_refuses_every_later_use,
                r58_family_revocation_refuses_every_later_refresh,
                r58_device_revocation_refuses_every_later_trusted_sign_in,
            }
        }
    };
}

/// Turns the list of flow suite functions into tests or a `Vec`. Not
/// public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __flow_expand {
    (tests ($factory:path) $($module:ident { $($name:ident),* $(,)? })*) => {
        #[allow(unused_imports)]
        mod flow {
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
                            $crate::testing::flow::$module::$name(::std::sync::Arc::new($factory().await)).await;
                        }
                    )*
                }
            )*
        }
    };
    (list () $($module:ident { $($name:ident),* $(,)? })*) => {
        vec![
            $($(
                $crate::testing::flow::FlowTest {
                    module: stringify!($module),
                    name: stringify!($name),
                    run: |store| ::std::boxed::Box::pin($crate::testing::flow::$module::$name(store)),
                },
            )*)*
        ]
    };
}
