//! In-process store (written at integration time).
#![forbid(unsafe_code)]
