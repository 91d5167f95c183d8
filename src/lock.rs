//! The one mutex policy of the crate: a poisoned lock is taken anyway.
//!
//! Every mutex here guards plain bookkeeping (maps, counters, log lines) that a panicking
//! holder cannot leave half-updated in a way that matters more than losing the whole
//! gateway to a cascade of poison panics, so a poisoned guard is recovered, not unwrapped.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering the guard when a previous holder panicked.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
