//! The round-trip counting wrapper is a faithful store: the conformance
//! suite passes through it.

use mfa_core::testing::counting::CountingStore;
use mfa_store_memory::MemoryStore;

async fn store() -> CountingStore<MemoryStore> {
    CountingStore::new(MemoryStore::new())
}

mfa_core::store_conformance_tests!(store);
