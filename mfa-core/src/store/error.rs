//! The one error type every store maps its backend errors into.

use std::error::Error as StdError;

/// A boxed backend error, kept for logs and `source()` chains. It must not
/// carry SQL text with secret values; stores pass driver errors, whose
/// messages contain no bound parameters.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Failure of a store operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness rule was violated (for example a duplicate identifier).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The backend could not be reached or timed out; the operation may be
    /// retried.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    /// A deadlock or serialization failure aborted the transaction: nothing
    /// of it was written, and the whole unit of work may be run again from
    /// its start.
    #[error("store contention: transaction aborted")]
    Contention(#[source] BoxError),
    /// A stored row could not be turned back into a model value.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Any other backend failure.
    #[error("store backend error")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Wraps any backend error as [`StoreError::Backend`].
    pub fn backend(err: impl StdError + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(err))
    }

    /// Wraps any backend error as [`StoreError::Unavailable`].
    pub fn unavailable(err: impl StdError + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(err))
    }
}

impl StoreError {
    /// Whether running the whole unit of work again may succeed:
    /// [`StoreError::Contention`].
    #[must_use]
    pub fn is_contention(&self) -> bool {
        matches!(self, Self::Contention(_))
    }
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;
