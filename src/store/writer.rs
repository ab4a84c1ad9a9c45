//! Group commit: the store's per-message writes (a translation's admission, an answered update
//! leaving the inbox) go to one writer thread, which runs every write queued at that moment
//! in a single transaction and commits once.
//!
//! Why: a commit appends every page the transaction changed to the WAL. One admission changes
//! a page in each of the `translations` table's four B-trees, and at a few thousand messages a
//! second those page writes were the largest cost in the process. Writes that arrive together
//! mostly change the same pages, and a batch writes each of them once.
//!
//! Data flow: [`Writer::submit`] queues a [`Write`]; the thread takes the first write waiting
//! and everything queued behind it (up to [`MAX_BATCH`]), takes the store's connection lock,
//! runs each write in a savepoint of its own (a failing write undoes only itself), commits,
//! releases the lock, and then tells each caller its result. A caller is only told after the
//! commit, so what it hears is durable. No write waits for company: an idle writer commits a
//! lone write at once, and batches form only when writes arrive faster than commits finish.
//! Dropping the [`Writer`] lets the thread finish what is queued, then joins it.

use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;

/// The most writes one transaction takes; more wait for the next.
const MAX_BATCH: usize = 512;

/// A write run by the writer thread inside a batch's transaction.
trait Write: Send {
    /// Runs the write in the open transaction (inside its own savepoint); `false` when it
    /// failed and must be undone.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Called once the batch is committed (`Ok`), or failed as a whole (`Err`).
    fn finish(self: Box<Self>, batch: Result<(), &Arc<rusqlite::Error>>);
    /// Called instead of running when the writer is gone.
    fn abandon(self: Box<Self>);
}

/// A write whose caller awaits its result (or, with no `reply`, one nobody awaits: its error is
/// logged).
struct Pending<R, F> {
    work: Option<F>,
    result: Option<Result<R, StoreError>>,
    reply: Option<oneshot::Sender<Result<R, StoreError>>>,
    what: &'static str,
}

impl<R, F> Write for Pending<R, F>
where
    R: Send,
    F: FnOnce(&Connection) -> Result<R, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return true;
        };
        let result = work(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, batch: Result<(), &Arc<rusqlite::Error>>) {
        let mut this = *self;
        let result = match (batch, this.result.take()) {
            (_, Some(Err(e))) => Err(e),
            (Err(e), _) => Err(StoreError::Batch(Arc::clone(e))),
            (Ok(()), Some(Ok(r))) => Ok(r),
            (Ok(()), None) => return,
        };
        this.deliver(result);
    }

    fn abandon(self: Box<Self>) {
        (*self).deliver(Err(StoreError::Closed));
    }
}

impl<R, F> Pending<R, F> {
    fn deliver(self, result: Result<R, StoreError>) {
        match self.reply {
            Some(reply) => {
                let _ = reply.send(result);
            }
            None => {
                if let Err(e) = result {
                    tracing::error!(error = %e, write = self.what, "store: a queued write failed");
                }
            }
        }
    }
}

/// The result of a queued write, ready once its batch is committed (or failed). Queuing
/// happened already: dropping it does not take the write back.
#[derive(Debug)]
pub(super) struct Answer<R>(oneshot::Receiver<Result<R, StoreError>>);

impl<R> Future for Answer<R> {
    type Output = Result<R, StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(StoreError::Closed)))
    }
}

/// See the module docs.
pub(super) struct Writer {
    queue: Option<mpsc::Sender<Box<dyn Write>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread on `conn` (shared with the store's other calls).
    pub(super) fn start(conn: Arc<Mutex<Connection>>) -> std::io::Result<Writer> {
        let (queue, writes) = mpsc::channel::<Box<dyn Write>>();
        let thread = std::thread::Builder::new()
            .name("tolmach-store".into())
            .spawn(move || run(&conn, &writes))?;
        Ok(Writer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues `work` for the next batch; the result arrives once it is committed. `what` names
    /// the write in the log should it fail with nobody awaiting it.
    pub(super) fn submit<R, F>(&self, what: &'static str, work: F) -> Answer<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.queue(Pending {
            work: Some(work),
            result: None,
            reply: Some(reply),
            what,
        });
        Answer(answer)
    }

    /// Queues `work` and does not wait for it; a failure is logged.
    pub(super) fn detach<F>(&self, what: &'static str, work: F)
    where
        F: FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static,
    {
        self.queue(Pending {
            work: Some(work),
            result: None,
            reply: None,
            what,
        });
    }

    fn queue<R, F>(&self, write: Pending<R, F>)
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let sent = self
            .queue
            .as_ref()
            .map(|q| q.send(Box::new(write) as Box<dyn Write>));
        if let Some(Err(mpsc::SendError(write))) = sent {
            // The thread is gone (it only ends when the store is dropped, or by a panic).
            write.abandon();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(conn: &Mutex<Connection>, writes: &mpsc::Receiver<Box<dyn Write>>) {
    let mut batch: Vec<Box<dyn Write>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = writes.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match writes.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let outcome = {
            let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            commit(&conn, &mut batch)
        };
        let outcome = outcome.map_err(Arc::new);
        for write in batch.drain(..) {
            write.finish(outcome.as_ref().map(|_| ()));
        }
    }
}

/// Runs `batch` in one transaction, each write in a savepoint, and commits.
fn commit(conn: &Connection, batch: &mut [Box<dyn Write>]) -> Result<(), rusqlite::Error> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let ran = (|| {
        for write in batch.iter_mut() {
            conn.prepare_cached("SAVEPOINT write")?.execute([])?;
            if !write.run(conn) {
                conn.prepare_cached("ROLLBACK TO write")?.execute([])?;
            }
            conn.prepare_cached("RELEASE write")?.execute([])?;
        }
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    })();
    if ran.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    ran
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;

    use rusqlite::params;

    use super::super::Store;
    use super::*;

    fn insert(conn: &Connection, id: i64) -> Result<(), StoreError> {
        conn.execute(
            "INSERT INTO platform_inbox (platform, id, raw) VALUES ('t', ?1, '{}')",
            params![id],
        )?;
        Ok(())
    }

    fn ids(store: &Store) -> Vec<i64> {
        store
            .inbox("t")
            .expect("read")
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    #[tokio::test]
    async fn a_failing_write_undoes_only_itself_in_its_batch() {
        let store = Store::in_memory().expect("store");
        // Hold the writer inside a batch until the next three writes are queued, so they are
        // committed together.
        let (started, running) = channel();
        let (release, held) = channel::<()>();
        let first = store.writer.submit("hold", move |conn| {
            let _ = started.send(());
            let _ = held.recv();
            insert(conn, 1)
        });
        let first = tokio::spawn(first);
        running.recv().expect("the writer runs the first write");
        let a = store.writer.submit("a", |conn| insert(conn, 2));
        let b = store.writer.submit("b", |conn| {
            insert(conn, 3)?;
            insert(conn, 2) // a duplicate key: this write fails after changing something
        });
        let c = store.writer.submit("c", |conn| insert(conn, 4));
        release.send(()).expect("release");
        first.await.expect("join").expect("first");
        a.await.expect("a is committed");
        assert!(
            matches!(b.await, Err(StoreError::Sql(_))),
            "b hears its own error"
        );
        c.await.expect("c is committed");
        assert_eq!(ids(&store), [1, 2, 4], "b's first insert was undone");
    }

    #[tokio::test]
    async fn a_write_nobody_awaits_is_committed_by_a_flush() {
        let store = Store::in_memory().expect("store");
        store
            .accept("t", &[(7, "{}".into()), (8, "{}".into())], 9)
            .expect("accept");
        store.answered("t", 7);
        store.flush().await;
        assert_eq!(ids(&store), [8]);
    }

    #[tokio::test]
    async fn dropping_the_store_commits_what_is_queued() {
        let dir = std::env::temp_dir().join(format!("tolmach-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let store = Store::open(&dir).expect("open");
            store
                .accept("t", &[(1, "{}".into()), (2, "{}".into())], 3)
                .expect("accept");
            store.answered("t", 1);
        }
        let store = Store::open(&dir).expect("reopen");
        assert_eq!(ids(&store), [2]);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Requests of seven users at once, from several threads: the first round is counted in
    /// the database (nothing is known yet), the second mostly in memory until each user nears
    /// the limit. Exactly the limit gets through, and every admitted row is there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_admissions_stop_exactly_at_the_quota() {
        use crate::domain::{ChatKey, MessageKey, PlatformId, UserKey};
        use crate::lang::Lang;
        const LIMIT: u32 = 20;
        const USERS: u32 = 7;
        let store = Store::in_memory().expect("store");
        let user = |u: u32| UserKey::new(PlatformId::Telegram, u.to_string());
        let round = |first: u32| {
            let tasks: Vec<_> = (first..first + 12 * USERS)
                .map(|i| {
                    let store = Arc::clone(&store);
                    tokio::spawn(async move {
                        let es = [Lang::from_code("es").expect("known")];
                        let message = MessageKey {
                            chat: ChatKey::new(PlatformId::Telegram, "c"),
                            id: i.to_string().into(),
                        };
                        let entry = super::super::Entry {
                            source: None,
                            targets: &es,
                            text: None,
                        };
                        let now = std::time::SystemTime::now();
                        let keep = std::time::Duration::from_secs(86_400);
                        let admission = store
                            .admit(&user(i % USERS), &message, entry, Some(LIMIT), now, keep)
                            .await
                            .expect("answered");
                        match admission {
                            super::super::Admission::Admitted(receipt) => {
                                receipt.durable().await.expect("durable");
                                (i % USERS, true)
                            }
                            super::super::Admission::QuotaReached { .. } => (i % USERS, false),
                        }
                    })
                })
                .collect();
            futures::future::join_all(tasks)
        };
        let mut admitted = vec![0u32; USERS as usize];
        let mut refused = vec![0u32; USERS as usize];
        for first in [0, 1_000] {
            for r in round(first).await {
                let (u, ok) = r.expect("task");
                if ok {
                    admitted[u as usize] += 1;
                } else {
                    refused[u as usize] += 1;
                }
            }
        }
        for u in 0..USERS {
            assert_eq!(admitted[u as usize], LIMIT, "user {u}");
            assert_eq!(refused[u as usize], 24 - LIMIT, "user {u}");
            assert_eq!(
                store.records_about(&user(u)).expect("count"),
                u64::from(LIMIT)
            );
        }
    }
}
