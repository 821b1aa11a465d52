//! Handle tables: what C holds instead of pointers into Rust memory.
//!
//! A handle is a non-zero number that is never reused — across all tables,
//! so a TCP handle passed to an SSL function finds nothing either — and a
//! stale, forged or double-freed handle fails cleanly instead of touching
//! freed memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The next handle of any table. Steps of 8 keep handles 8-aligned and
/// non-zero, so they look like ordinary pointers to C code that prints them.
static NEXT_HANDLE: AtomicUsize = AtomicUsize::new(8);

pub struct HandleTable<T> {
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    items: Option<HashMap<usize, Arc<T>>>,
}

impl<T> Default for HandleTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> HandleTable<T> {
    pub const fn new() -> Self {
        HandleTable {
            inner: Mutex::new(Inner { items: None }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores `item` and returns its new handle (never 0).
    pub fn insert(&self, item: Arc<T>) -> usize {
        let handle = NEXT_HANDLE.fetch_add(8, Ordering::Relaxed);
        self.lock()
            .items
            .get_or_insert_with(HashMap::new)
            .insert(handle, item);
        handle
    }

    pub fn get(&self, handle: usize) -> Option<Arc<T>> {
        self.lock().items.as_ref()?.get(&handle).cloned()
    }

    pub fn remove(&self, handle: usize) -> Option<Arc<T>> {
        self.lock().items.as_mut()?.remove(&handle)
    }

    pub fn len(&self) -> usize {
        self.lock().items.as_ref().map_or(0, HashMap::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_and_unknown_handles_find_nothing() {
        let table = HandleTable::new();
        let a = table.insert(Arc::new(5));
        let b = table.insert(Arc::new(6));
        assert_ne!(a, 0);
        assert_ne!(a, b);
        assert_eq!(table.get(a).as_deref(), Some(&5));
        assert_eq!(table.remove(a).as_deref(), Some(&5));
        assert!(table.get(a).is_none(), "removed handle must be dead");
        assert!(table.remove(a).is_none(), "double remove finds nothing");
        assert!(table.get(0).is_none());
        assert!(table.get(12345).is_none());
        let c = table.insert(Arc::new(7));
        assert_ne!(c, a, "handles are never reused");
        assert_eq!(table.len(), 2);
        let other: HandleTable<u8> = HandleTable::new();
        let d = other.insert(Arc::new(1));
        assert!(
            table.get(d).is_none(),
            "a handle of one table is unknown to another"
        );
    }
}
