//! Durable state in an embedded SQLite database (`<data_dir>/tolmach.sqlite3`).
//!
//! It holds, per platform with a replayable input (Telegram), the *cursor* (the position from
//! which the platform must deliver again after a restart) and the ids at or after the cursor that
//! are already handled, so a redelivered update is recognised and not answered twice; and, for
//! platforms that recover missed messages from channel history (Discord), the last message
//! handled in each channel and the handled message ids of the recent past.
//! It also holds what the bot keeps about its users (settings, the translations behind quotas,
//! favorites and history): see [`users`](self::users).
//! Writes are single small transactions in WAL mode with `synchronous = NORMAL`: durable across
//! a process crash (SIGKILL), which is the failure this store is for.
//!
//! Calls are synchronous and short (tens of microseconds); they are made from async code
//! directly and never while an `.await` is pending inside them.

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
}

mod users;

pub use users::{Admission, Entry, HistoryEntry};

/// See the module docs.
pub struct Store {
    conn: Mutex<Connection>,
    pruning: users::Pruning,
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
        Self::init(conn).map_err(|source| StoreError::Open { path, source })
    }

    /// A throwaway in-memory store (tests).
    pub fn in_memory() -> Result<Arc<Self>, StoreError> {
        Ok(Self::init(Connection::open_in_memory()?)?)
    }

    fn init(conn: Connection) -> Result<Arc<Self>, rusqlite::Error> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(users::SCHEMA)?;
        Ok(Arc::new(Self {
            conn: Mutex::new(conn),
            pruning: users::Pruning::default(),
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

    /// Records `ids` as handled and `cursor` as the resume position, in one transaction, and
    /// forgets handled ids before the cursor (the platform will never deliver them again).
    pub fn record(&self, platform: &str, ids: &[i64], cursor: i64) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut insert = tx
                .prepare("INSERT OR IGNORE INTO platform_handled (platform, id) VALUES (?1, ?2)")?;
            for id in ids {
                insert.execute(params![platform, id])?;
            }
        }
        tx.execute(
            "INSERT INTO platform_cursor (platform, position) VALUES (?1, ?2)
             ON CONFLICT(platform) DO UPDATE SET position = max(position, excluded.position)",
            params![platform, cursor],
        )?;
        tx.execute(
            "DELETE FROM platform_handled WHERE platform = ?1 AND id < ?2",
            params![platform, cursor],
        )?;
        tx.commit()?;
        Ok(())
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
            let mut insert = tx
                .prepare("INSERT OR IGNORE INTO platform_handled (platform, id) VALUES (?1, ?2)")?;
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
            let mut upsert = tx.prepare(
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
    fn cursor_and_handled_ids_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("tolmach-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let store = Store::open(&dir).expect("open");
            assert_eq!(store.cursor("telegram").expect("read"), None);
            store.record("telegram", &[10, 12], 10).expect("write");
            store.record("telegram", &[11], 11).expect("write");
        }
        let store = Store::open(&dir).expect("reopen");
        assert_eq!(store.cursor("telegram").expect("read"), Some(11));
        // 10 fell behind the cursor and was forgotten; 12 is remembered.
        assert_eq!(
            store.handled_since("telegram", 11).expect("read"),
            BTreeSet::from([11, 12])
        );
        // The cursor never moves back.
        store.record("telegram", &[], 5).expect("write");
        assert_eq!(store.cursor("telegram").expect("read"), Some(11));
        assert_eq!(store.cursor("discord").expect("read"), None);
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
