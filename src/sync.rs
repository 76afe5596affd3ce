//! Locks that outlive a panic.

use std::sync::{Mutex, MutexGuard};

/// Takes `m`'s lock even when a thread panicked while holding it. Every mutex of this
/// program guards state that a panic cannot leave half-changed (counters, queues, a
/// connection whose open transaction is rolled back when dropped), so one thread's bug
/// must not take every other thread down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
