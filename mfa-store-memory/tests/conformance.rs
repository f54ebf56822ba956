//! The store conformance suite of `mfa-core`, run against [`MemoryStore`].

async fn store() -> mfa_store_memory::MemoryStore {
    mfa_store_memory::MemoryStore::new()
}

mfa_core::store_conformance_tests!(store);
