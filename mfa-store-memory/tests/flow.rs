//! The engine flow suite of `mfa-core`, run on [`MemoryStore`](mfa_store_memory::MemoryStore).

async fn store() -> mfa_store_memory::MemoryStore {
    mfa_store_memory::MemoryStore::new()
}

mfa_core::flow_tests!(store);
