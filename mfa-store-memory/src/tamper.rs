//! [`AuditTamper`] on [`MemoryStore`] (feature `testing`): the raw edits
//! of the audit log that the tamper suite of the audit chains
//! ([`mfa_core::audit_chain_tests!`]) makes behind the engine's back, as
//! someone with access to the store's data would. Test helpers: every
//! failure panics, naming the edit.

use crate::MemoryStore;
use async_trait::async_trait;
use mfa_core::model::{AuditEventId, AuditOutcome};
use mfa_core::testing::chains::AuditTamper;

#[async_trait]
impl AuditTamper for MemoryStore {
    async fn tamper_set_outcome(&self, id: AuditEventId, outcome: &str) {
        let outcome = AuditOutcome::parse(outcome)
            .unwrap_or_else(|| panic!("tamper_set_outcome: unknown outcome {outcome:?}"));
        let mut s = self.lock("tamper_set_outcome").await;
        let event = s
            .audit
            .iter_mut()
            .find(|e| e.id == id)
            .unwrap_or_else(|| panic!("tamper_set_outcome: no audit event {id:?}"));
        event.outcome = outcome;
    }

    async fn tamper_delete(&self, ids: &[AuditEventId]) {
        let mut s = self.lock("tamper_delete").await;
        let mut gone = Vec::new();
        s.audit.retain(|e| {
            let doomed = ids.contains(&e.id);
            if doomed {
                gone.push(e.link);
            }
            !doomed
        });
        assert_eq!(
            gone.len(),
            ids.len(),
            "tamper_delete: not every one of {ids:?} was an audit event"
        );
        for link in gone.into_iter().flatten() {
            s.audit_positions.remove(&(link.chain, link.seq));
        }
    }

    async fn tamper_swap_positions(&self, a: AuditEventId, b: AuditEventId) {
        let mut s = self.lock("tamper_swap_positions").await;
        let link_of = |s: &crate::state::State, id: AuditEventId| {
            s.audit
                .iter()
                .find(|e| e.id == id)
                .and_then(|e| e.link)
                .unwrap_or_else(|| panic!("tamper_swap_positions: {id:?} is no linked event"))
        };
        let (link_a, link_b) = (link_of(&s, a), link_of(&s, b));
        assert_eq!(
            link_a.chain, link_b.chain,
            "tamper_swap_positions: {a:?} and {b:?} are on different chains"
        );
        for event in s.audit.iter_mut() {
            if let Some(link) = &mut event.link {
                if event.id == a {
                    link.seq = link_b.seq;
                } else if event.id == b {
                    link.seq = link_a.seq;
                }
            }
        }
        s.audit_positions.insert((link_a.chain, link_a.seq), b);
        s.audit_positions.insert((link_b.chain, link_b.seq), a);
    }
}
