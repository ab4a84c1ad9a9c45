//! Owning background tasks: a task handle that aborts its task when dropped.
//!
//! Actors keep the tasks they start (an HTTP listener, an input pump) in an [`OwnedTask`] inside
//! their state. ractor drops an actor's state when it stops, whether it stopped cleanly, panicked
//! or was killed (`post_stop` does not run in the last two cases), so the task can never outlive
//! the actor that owns it.

use tokio::task::JoinHandle;

/// See the module docs.
#[derive(Debug)]
pub struct OwnedTask(JoinHandle<()>);

impl OwnedTask {
    pub fn spawn<F>(future: F) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        Self(tokio::spawn(future))
    }

    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for OwnedTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
