//! A change signal for the supervision tree.
//!
//! Supervisors bump it whenever a child starts or stops, so anyone who needs to wait for the tree
//! to reach a state ("the rate limiter is running again") waits on a signal instead of polling:
//! take a [`TreeWatch::subscribe`]r, check the tree, and `changed().await` before checking again.

use std::sync::Arc;

use tokio::sync::watch;

/// See the module docs. Cheap to clone.
#[derive(Clone)]
pub struct TreeWatch(Arc<watch::Sender<u64>>);

impl Default for TreeWatch {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl TreeWatch {
    /// Something in the tree started or stopped.
    pub fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}
