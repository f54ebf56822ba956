//! Helpers shared by the test suites of the driver crates.
