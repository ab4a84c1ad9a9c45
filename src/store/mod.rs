//! Durable state in an embedded SQLite database (`<data_dir>/tolmach.sqlite3`).
//!
//! It holds, per platform with a replayable input (Telegram), the *cursor* (the position from
//! which the platform must deliver again after a restart) and the *inbox* (updates accepted and
//! not answered yet, answered again after a crash); and, for
//! platforms that recover missed messages from channel history (Discord), the last message
//! handled in each channel and the handled message ids of the recent past.
//! It also holds what the bot keeps about its users (settings, the translations behind quotas,
//! favorites and history): see [`users`](self::users).
//! Writes are small transactions in WAL mode with `synchronous = NORMAL`: durable across
//! a process crash (SIGKILL), which is the failure this store is for. Checkpoints (copying the
//! WAL into the database, with an fsync) run on a thread of their own with its own connection,
//! four times a second, without blocking writers: left to SQLite, every thousandth page written would
//! stall the writer that crossed it, and everyone queued on the store's lock behind it. Under
//! steady load a round is finished under the store's lock, briefly, so that the WAL starts over
//! (see [`checkpoint`]).
//!
//! The writes every message makes (admitting a translation, clearing an answered update) are
//! queued to a writer thread that commits them in batches: see [`writer`]. Other calls are
//! synchronous and short (tens of microseconds); they are made from async code directly and
//! never while an `.await` is pending inside them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The transaction a queued write was batched into failed as a whole.
    #[error("database: the batch this write was committed in failed: {0}")]
    Batch(Arc<rusqlite::Error>),
    #[error("database: the store is closed")]
    Closed,
}

mod quota;
mod users;
mod writer;

pub use users::{Admission, Entry, HistoryEntry, Receipt};

/// See the module docs.
pub struct Store {
    /// Writes that every message makes, committed in batches; see [`writer`].
    writer: writer::Writer,
    conn: Arc<Mutex<Connection>>,
    pruning: users::Pruning,
    /// The users' defaults, read by every message; see [`users`].
    defaults: users::DefaultsCache,
    /// The users' counts under the daily quota; see [`quota`].
    quotas: quota::Quotas,
    /// Held for its `Drop`, which stops the thread (`None` for an in-memory store).
    #[cfg_attr(not(test), expect(dead_code))]
    checkpointer: Option<Checkpointer>,
}

/// How often the background thread checkpoints the WAL.
///
/// Each round syncs what was written since the last one, the WAL and then the database file.
/// Once a second, at 1,000 messages a second, that was about 18 MB to sync (2 to 28 ms), and
/// the store's writes could stall while it ran: the reply latency's p99.9 was three times what
/// it was with no fsync at all. Four smaller rounds a second cut the p99.9 by about a quarter
/// (`docs/benchmarks.md`, tenth round).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// A WAL longer than this many frames (4 KiB pages: 16 MiB) after a background checkpoint is
/// finished under the store's lock, so that the next write starts it over (see
/// [`Checkpointer`]).
const RESTART_ABOVE_FRAMES: i64 = 4096;

/// The WAL file is cut back to this size when it starts over.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// The background checkpoint thread; it stops when the store is dropped.
struct Checkpointer {
    /// Dropping it wakes the thread, which then exits.
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Checkpoints done so far, for tests.
    #[cfg(test)]
    done: Arc<(Mutex<u64>, std::sync::Condvar)>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Checkpointer {
    /// Starts the thread on its own connection to `path`; `store` is the store's connection,
    /// whose lock it takes to finish a checkpoint (see [`checkpoint`]).
    fn start(path: &Path, store: Arc<Mutex<Connection>>) -> Result<Checkpointer, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        #[cfg(test)]
        let done = Arc::new((Mutex::new(0_u64), std::sync::Condvar::new()));
        #[cfg(test)]
        let counter = Arc::clone(&done);
        let thread = std::thread::Builder::new()
            .name("tolmach-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    if let Err(e) = checkpoint(&conn, &store, RESTART_ABOVE_FRAMES) {
                        tracing::warn!(error = %e, "store: checkpoint failed; the WAL grows until one succeeds");
                    }
                    #[cfg(test)]
                    {
                        let (n, cv) = &*counter;
                        *n.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                        cv.notify_all();
                    }
                }
            })
            .map_err(|e| no_thread("checkpoint", &e))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
            #[cfg(test)]
            done,
        })
    }
}

/// One round of the checkpoint thread.
///
/// First PASSIVE, on the thread's own connection: it copies into the database what no reader
/// needs, and never waits for or blocks a writer. That is most of the work. But the WAL only
/// starts over when a write begins with every frame copied, and under steady load a write
/// always lands during the copy: the WAL then grew without bound (25 MB a second at 1,000
/// messages a second), and so did the time to open the database after a crash. So when the
/// WAL is still longer than `restart_above` frames, the round is finished under the store's
/// lock (no write or read can start meanwhile) with a RESTART. It copies only what was written
/// during the first pass, and the next write starts the WAL over.
fn checkpoint(
    own: &Connection,
    store: &Mutex<Connection>,
    restart_above: i64,
) -> Result<(), rusqlite::Error> {
    let log: i64 = own.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    if log > restart_above {
        let _quiet = store.lock().unwrap_or_else(|e| e.into_inner());
        let busy: i64 = own.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get(0))?;
        if busy != 0 {
            tracing::warn!(frames = log, "store: the WAL could not be started over");
        }
    }
    Ok(())
}

/// A store thread (`what`) that could not be started, as the error opening the store reports.
fn no_thread(what: &str, e: &std::io::Error) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
        Some(format!("cannot start the {what} thread: {e}")),
    )
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS platform_cursor (
    platform TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS platform_handled (
    platform TEXT NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (platform, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS platform_inbox (
    platform TEXT NOT NULL,
    id INTEGER NOT NULL,
    raw TEXT NOT NULL,
    PRIMARY KEY (platform, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS channel_cursor (
    platform TEXT NOT NULL,
    channel TEXT NOT NULL,
    last_id INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (platform, channel)
) WITHOUT ROWID;
";

impl Store {
    /// Opens (creating if needed) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Arc<Self>, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join("tolmach.sqlite3");
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Self::init(conn, Some(&path)).map_err(|source| StoreError::Open { path, source })
    }

    /// A throwaway in-memory store (tests).
    pub fn in_memory() -> Result<Arc<Self>, StoreError> {
        Ok(Self::init(Connection::open_in_memory()?, None)?)
    }

    /// Sets `conn` up; with a `path` (a file, not in memory), checkpoints move to a thread.
    fn init(mut conn: Connection, path: Option<&Path>) -> Result<Arc<Self>, rusqlite::Error> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        if path.is_some() {
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        }
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // The hot paths (inbox, cursors, admissions) use cached statements: parsing SQL on
        // every update cost more than running it.
        conn.set_prepared_statement_cache_capacity(32);
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(users::SCHEMA)?;
        users::migrate(&mut conn)?;
        let conn = Arc::new(Mutex::new(conn));
        let checkpointer = match path {
            Some(path) => Some(Checkpointer::start(path, Arc::clone(&conn))?),
            None => None,
        };
        let writer =
            writer::Writer::start(Arc::clone(&conn)).map_err(|e| no_thread("writer", &e))?;
        Ok(Arc::new(Self {
            writer,
            conn,
            pruning: users::Pruning::default(),
            defaults: users::DefaultsCache::default(),
            quotas: quota::Quotas::default(),
            checkpointer,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where `platform` must resume, if it ever stored a position.
    pub fn cursor(&self, platform: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT position FROM platform_cursor WHERE platform = ?1",
                params![platform],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Ids of `platform` at or after `from` already handled.
    pub fn handled_since(&self, platform: &str, from: i64) -> Result<BTreeSet<i64>, StoreError> {
        let conn = self.lock();
        let mut stmt =
            conn.prepare("SELECT id FROM platform_handled WHERE platform = ?1 AND id >= ?2")?;
        let ids = stmt
            .query_map(params![platform, from], |r| r.get::<_, i64>(0))?
            .collect::<Result<BTreeSet<i64>, _>>()?;
        Ok(ids)
    }
}

/// The inbox: updates accepted from a replayable platform (Telegram) and not answered yet.
/// Accepting a batch writes its updates and moves the cursor past them in one transaction, so
/// the platform may forget them at once; answering one deletes its row; after a crash the rows
/// left are the updates to answer again.
impl Store {
    /// Stores `updates` (id, raw JSON) in `platform`'s inbox and moves its cursor to `cursor`
    /// (never back), in one transaction; forgets handled ids before the cursor.
    pub fn accept(
        &self,
        platform: &str,
        updates: &[(i64, String)],
        cursor: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO platform_inbox (platform, id, raw) VALUES (?1, ?2, ?3)",
            )?;
            for (id, raw) in updates {
                insert.execute(params![platform, id, raw])?;
            }
        }
        tx.prepare_cached(
            "INSERT INTO platform_cursor (platform, position) VALUES (?1, ?2)
             ON CONFLICT(platform) DO UPDATE SET position = max(position, excluded.position)",
        )?
        .execute(params![platform, cursor])?;
        tx.prepare_cached("DELETE FROM platform_handled WHERE platform = ?1 AND id < ?2")?
            .execute(params![platform, cursor])?;
        tx.commit()?;
        Ok(())
    }

    /// The updates in `platform`'s inbox, oldest first.
    pub fn inbox(&self, platform: &str) -> Result<Vec<(i64, String)>, StoreError> {
        let conn = self.lock();
        let mut stmt =
            conn.prepare("SELECT id, raw FROM platform_inbox WHERE platform = ?1 ORDER BY id")?;
        let rows = stmt
            .query_map(params![platform], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Removes an answered update from `platform`'s inbox. The delete is queued and committed
    /// with the next batch (see [`writer`]); a failure is logged. Until it is committed, a
    /// crash leaves the update to be answered again, as a crash just before this call would.
    pub fn answered(&self, platform: &'static str, id: i64) {
        self.writer.detach("answered", move |conn| {
            conn.prepare_cached("DELETE FROM platform_inbox WHERE platform = ?1 AND id = ?2")?
                .execute(params![platform, id])?;
            Ok(())
        });
    }

    /// Waits until every write queued so far is committed (or has failed).
    pub async fn flush(&self) {
        let _ = self.writer.submit("flush", |_| Ok(())).await;
    }
}

impl Store {
    /// Records `ids` as handled and forgets handled ids below `forget_below` (too old to be
    /// delivered again), in one transaction.
    pub fn record_handled(
        &self,
        platform: &str,
        ids: &[i64],
        forget_below: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO platform_handled (platform, id) VALUES (?1, ?2)",
            )?;
            for id in ids {
                insert.execute(params![platform, id])?;
            }
        }
        tx.execute(
            "DELETE FROM platform_handled WHERE platform = ?1 AND id < ?2",
            params![platform, forget_below],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Moves channel cursors forward (never back) and stamps them with `now` (Unix seconds).
    pub fn save_cursors(
        &self,
        platform: &str,
        cursors: &[(String, i64)],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO channel_cursor (platform, channel, last_id, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(platform, channel) DO UPDATE SET
                   last_id = max(last_id, excluded.last_id), updated_at = excluded.updated_at",
            )?;
            for (channel, last_id) in cursors {
                upsert.execute(params![platform, channel, last_id, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Channels of `platform` with a cursor saved at or after `since` (Unix seconds).
    pub fn recent_cursors(
        &self,
        platform: &str,
        since: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT channel, last_id FROM channel_cursor WHERE platform = ?1 AND updated_at >= ?2",
        )?;
        let rows = stmt
            .query_map(params![platform, since], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inbox_and_the_cursor_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("tolmach-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let store = Store::open(&dir).expect("open");
            assert_eq!(store.cursor("telegram").expect("read"), None);
            store
                .accept(
                    "telegram",
                    &[(10, "{\"a\":10}".into()), (12, "{}".into())],
                    13,
                )
                .expect("write");
            store.answered("telegram", 12);
            store.accept("telegram", &[], 14).expect("write");
        }
        let store = Store::open(&dir).expect("reopen");
        assert_eq!(store.cursor("telegram").expect("read"), Some(14));
        // 10 is accepted and not answered: it is what a restart answers.
        assert_eq!(
            store.inbox("telegram").expect("read"),
            vec![(10, "{\"a\":10}".to_string())]
        );
        // The cursor never moves back.
        store.accept("telegram", &[], 5).expect("write");
        assert_eq!(store.cursor("telegram").expect("read"), Some(14));
        assert_eq!(store.cursor("discord").expect("read"), None);
        assert!(store.inbox("discord").expect("read").is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn checkpoints_run_in_the_background_not_in_writers() {
        let dir = std::env::temp_dir().join(format!("tolmach-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).expect("open");
        let auto: i64 = store
            .lock()
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(auto, 0, "writers never checkpoint");
        // Well past SQLite's default of a checkpoint every 1,000 pages.
        let big = "x".repeat(8_000);
        for id in 0..1_500 {
            store
                .accept("telegram", &[(id, big.clone())], id + 1)
                .expect("write");
        }
        let wal = dir.join("tolmach.sqlite3-wal");
        let before = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(
            before > 4_000_000,
            "the WAL holds the writes: {before} bytes"
        );
        wait_for_checkpoints(&store, 2);
        // Everything was copied into the database: the next write starts the WAL over.
        store.accept("telegram", &[], 2_000).expect("write");
        let frames: i64 = store
            .lock()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
            .expect("pragma");
        assert!(frames < 10, "the WAL was restarted: {frames} frames");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Waits until the checkpoint thread has done `rounds` more rounds (30 s at most).
    fn wait_for_checkpoints(store: &Store, rounds: u64) {
        let checkpointer = store
            .checkpointer
            .as_ref()
            .expect("a file store checkpoints");
        let (n, cv) = &*checkpointer.done;
        let guard = n.lock().expect("lock");
        let start = *guard;
        let (_guard, timeout) = cv
            .wait_timeout_while(guard, std::time::Duration::from_secs(30), |n| {
                *n < start + rounds
            })
            .expect("wait");
        assert!(!timeout.timed_out(), "the checkpoint thread runs");
    }

    /// The WAL header's checkpoint sequence number: it goes up each time the WAL starts over.
    fn wal_generation(wal: &Path) -> Option<u32> {
        let header = std::fs::read(wal).ok()?;
        Some(u32::from_be_bytes(header.get(12..16)?.try_into().ok()?))
    }

    #[test]
    fn under_steady_writes_the_wal_still_starts_over() {
        let dir = std::env::temp_dir().join(format!("tolmach-restart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).expect("open");
        let wal = dir.join("tolmach.sqlite3-wal");
        // Writes with no pause between them, so a write always lands during a checkpoint's
        // copy: a PASSIVE checkpoint alone never lets the WAL start over then.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            std::thread::spawn(move || {
                let big = "x".repeat(8_000);
                let mut id = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    store
                        .accept("telegram", &[(id, big.clone())], id + 1)
                        .expect("write");
                    store.answered("telegram", id);
                    id += 1;
                }
            })
        };
        // Past 4,096 frames (8 KB rows: two pages each, and the inbox's index).
        wait_for_checkpoints(&store, 1);
        let before = wal_generation(&wal);
        wait_for_checkpoints(&store, 4);
        let after = wal_generation(&wal);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().expect("writer");
        assert!(
            matches!((before, after), (Some(b), Some(a)) if a > b),
            "the WAL started over: generation {before:?} -> {after:?}"
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn channel_cursors_only_move_forward_and_old_ids_are_forgotten() {
        let store = Store::in_memory().expect("open");
        store
            .save_cursors("discord", &[("1".into(), 100), ("2".into(), 50)], 1_000)
            .expect("write");
        store
            .save_cursors("discord", &[("1".into(), 90)], 2_000)
            .expect("write");
        let mut recent = store.recent_cursors("discord", 1_500).expect("read");
        recent.sort();
        assert_eq!(recent, [("1".to_string(), 100)]);
        store
            .record_handled("discord", &[10, 20, 30], 15)
            .expect("write");
        assert_eq!(
            store.handled_since("discord", 0).expect("read"),
            BTreeSet::from([20, 30])
        );
    }
}
