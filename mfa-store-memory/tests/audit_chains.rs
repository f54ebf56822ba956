//! The tamper suite of the audit chains of `mfa-core`, run on
//! [`MemoryStore`](mfa_store_memory::MemoryStore) (feature `testing`).

async fn store() -> mfa_store_memory::MemoryStore {
    mfa_store_memory::MemoryStore::new()
}

mfa_core::audit_chain_tests!(store);
