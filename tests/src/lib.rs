//! Shared helpers for strata end-to-end tests.
