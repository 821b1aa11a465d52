//! The live MQTT clients behind the handles C holds: the handle table, the
//! default client (IOT_MQTT_Construct's, which a NULL handle means), and the
//! turns IOT_MQTT_Construct calls take.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, ThreadId};

use super::client::Session;
use super::lock;
use crate::handles::HandleTable;
use crate::mqtt::client::Client;

/// A live client and the session it connects with.
pub struct MqttHandle {
    /// The connection.
    pub client: Client,
    /// How it connects and what it learned.
    pub session: Arc<Session>,
}

/// Clients by handle, and which one is the default.
pub struct Registry<T> {
    table: HandleTable<T>,
    /// The handle handle 0 (a NULL handle) stands for; 0 when none.
    default: Mutex<usize>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Registry<T> {
    /// An empty registry.
    pub const fn new() -> Self {
        Registry {
            table: HandleTable::new(),
            default: Mutex::new(0),
        }
    }

    /// Stores `item` under a new handle (never 0, never reused).
    pub fn insert(&self, item: Arc<T>) -> usize {
        self.table.insert(item)
    }

    /// The item under `handle` exactly (0 finds nothing).
    pub fn get(&self, handle: usize) -> Option<Arc<T>> {
        self.table.get(handle)
    }

    /// The item for a handle as C passes it: 0 is the default client. Also
    /// returns the handle it resolved to.
    pub fn resolve(&self, handle: usize) -> Option<(usize, Arc<T>)> {
        let id = if handle == 0 {
            *lock(&self.default)
        } else {
            handle
        };
        self.table.get(id).map(|item| (id, item))
    }

    /// The default client's handle while that client lives.
    pub fn live_default(&self) -> Option<usize> {
        let id = *lock(&self.default);
        self.table.get(id).map(|_| id)
    }

    /// Makes `handle` the default client.
    pub fn set_default(&self, handle: usize) {
        *lock(&self.default) = handle;
    }

    /// Takes `handle` out of the table; when it was the default client, there
    /// is no default client any more.
    pub fn remove(&self, handle: usize) -> Option<Arc<T>> {
        let item = self.table.remove(handle)?;
        let mut default = lock(&self.default);
        if *default == handle {
            *default = 0;
        }
        Some(item)
    }
}

/// Every MQTT client of the process.
pub static CLIENTS: Registry<MqttHandle> = Registry::new();

/// One thread at a time inside a section, waited for on a condition
/// variable rather than a held lock: what runs inside (the identity wait
/// serves the connection and calls the firmware's handlers) runs under no
/// lock, and the same thread asking again is told so instead of deadlocking.
pub struct TurnGate {
    owner: Mutex<Option<ThreadId>>,
    done: Condvar,
}

impl Default for TurnGate {
    fn default() -> Self {
        Self::new()
    }
}

impl TurnGate {
    /// A gate nobody is inside.
    pub const fn new() -> Self {
        TurnGate {
            owner: Mutex::new(None),
            done: Condvar::new(),
        }
    }

    /// Waits until no other thread is inside, then enters. `None` when this
    /// thread is already inside (a handler called back in).
    pub fn take(&self) -> Option<Turn<'_>> {
        let me = thread::current().id();
        let mut owner = lock(&self.owner);
        loop {
            match *owner {
                None => {
                    *owner = Some(me);
                    return Some(Turn { gate: self });
                }
                Some(other) if other == me => return None,
                Some(_) => {
                    owner = self
                        .done
                        .wait(owner)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            }
        }
    }
}

/// A thread's turn inside a [`TurnGate`]; leaving it lets the next one in.
pub struct Turn<'a> {
    gate: &'a TurnGate,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *lock(&self.gate.owner) = None;
        self.gate.done.notify_all();
    }
}

/// The turns of IOT_MQTT_Construct.
pub static CONSTRUCTING: TurnGate = TurnGate::new();

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[test]
    fn handle_zero_means_the_default_client_and_only_while_it_lives() {
        let registry: Registry<&str> = Registry::new();
        let a = registry.insert(Arc::new("a"));
        let b = registry.insert(Arc::new("b"));
        assert_ne!(a, 0);
        assert_ne!(a, b);
        assert!(registry.resolve(0).is_none(), "no default client yet");
        assert_eq!(registry.live_default(), None);
        registry.set_default(b);
        assert_eq!(registry.live_default(), Some(b));
        let (id, item) = registry.resolve(0).unwrap();
        assert_eq!((id, *item), (b, "b"));
        let (id, item) = registry.resolve(a).unwrap();
        assert_eq!((id, *item), (a, "a"));
        assert!(registry.get(0).is_none(), "get takes handles literally");
    }

    #[test]
    fn removing_the_default_client_clears_the_default_but_not_the_others() {
        let registry: Registry<u32> = Registry::new();
        let a = registry.insert(Arc::new(1));
        let b = registry.insert(Arc::new(2));
        registry.set_default(a);
        assert_eq!(registry.remove(b).as_deref(), Some(&2));
        assert_eq!(registry.live_default(), Some(a), "another handle left");
        assert!(
            registry.remove(b).is_none(),
            "a second remove finds nothing"
        );
        assert_eq!(registry.remove(a).as_deref(), Some(&1));
        assert_eq!(registry.live_default(), None);
        assert!(registry.resolve(0).is_none());
        // A new client does not become the default by itself.
        let c = registry.insert(Arc::new(3));
        assert!(registry.resolve(0).is_none());
        assert!(registry.resolve(c).is_some());
    }

    #[test]
    fn a_thread_already_inside_is_refused_instead_of_deadlocking() {
        let gate = TurnGate::new();
        let turn = gate.take().expect("first turn");
        assert!(gate.take().is_none(), "same thread again");
        drop(turn);
        assert!(gate.take().is_some(), "free again after the turn ended");
    }

    #[test]
    fn other_threads_wait_for_the_turn_to_end() {
        let gate = Arc::new(TurnGate::new());
        let entered = Arc::new(AtomicBool::new(false));
        let turn = gate.take().unwrap();
        let waiter = {
            let gate = Arc::clone(&gate);
            let entered = Arc::clone(&entered);
            thread::spawn(move || {
                let _turn = gate.take().expect("another thread gets its turn");
                entered.store(true, Ordering::SeqCst);
            })
        };
        thread::sleep(Duration::from_millis(100));
        assert!(
            !entered.load(Ordering::SeqCst),
            "entered while the first turn was held"
        );
        drop(turn);
        waiter.join().unwrap();
        assert!(entered.load(Ordering::SeqCst));
    }
}
