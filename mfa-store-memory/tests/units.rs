//! The unit-of-work conformance suite of `mfa-core`, run against
//! [`MemoryStore`](mfa_store_memory::MemoryStore).

async fn store() -> mfa_store_memory::MemoryStore {
    mfa_store_memory::MemoryStore::new()
}

mfa_core::unit_of_work_conformance_tests!(store);
