//! What the bot keeps about its users, in the same SQLite database as the delivery state.
//!
//! - `user_settings`: default target languages (`/lang es fr`);
//! - `translations`: one row per accepted translation request, keyed by the message, so a
//!   message handled twice (a crashed conversation doing it again) is counted once. It serves the
//!   daily quota (rows of the current UTC day), `/favorites` (target languages counted over the
//!   retention period) and `/history` (rows that kept their text: only where history is on).
//!
//! `/forget` deletes every row of the user in both tables. Rows older than the retention period
//! are pruned at most once an hour, from the write path. User ids are platform-qualified; no
//! table holds a name or anything the platform did not need to send.
//!
//! Every message reads its user's defaults, so they are kept in a bounded cache in front of the
//! table ([`DefaultsCache`]): a message then takes no lock the writer thread holds. The cache is
//! filled and invalidated under the connection's lock, so it never holds a value older than
//! what the table holds. Likewise the daily quota: a user known to be well under it is admitted
//! without waiting for a count in the database ([`super::quota`]); the request's row is written
//! while it is translated, and the reply waits for it ([`Receipt`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use super::quota::Path;
use super::writer::Answer;
use super::{Store, StoreError};
use crate::domain::{MessageKey, UserKey};
use crate::lang::Lang;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS user_settings (
    platform TEXT NOT NULL,
    user TEXT NOT NULL,
    defaults TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (platform, user)
) WITHOUT ROWID;
";

/// `translations` as of schema version 1: one B-tree keyed for the daily quota, `/history`,
/// `/favorites` and `/forget` (all of them read one user's rows), and one in time order for
/// pruning. Version 0 had a rowid table with two indexes on the user besides its key: four
/// B-trees written per request where these are two, and only one of them at a random place.
const TRANSLATIONS: &str = "
CREATE TABLE translations (
    platform TEXT NOT NULL,
    user TEXT NOT NULL,
    day INTEGER NOT NULL,
    message TEXT NOT NULL,
    at_us INTEGER NOT NULL,
    source TEXT,
    targets TEXT NOT NULL,
    text TEXT,
    PRIMARY KEY (platform, user, day, message)
) WITHOUT ROWID;
CREATE INDEX translations_by_age ON translations (at_us);
";

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// Brings `translations` to [`SCHEMA_VERSION`], in one transaction: a new database gets it
/// as is; a version-0 table is copied over (its times made microseconds, rows of the same
/// second kept in the order they were written) and dropped.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    let old = tx.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'translations'",
        [],
        |r| r.get::<_, i64>(0),
    )? > 0;
    if old {
        tx.execute_batch(
            "DROP INDEX IF EXISTS translations_by_user_day;
             DROP INDEX IF EXISTS translations_by_day;
             DROP INDEX IF EXISTS translations_by_age;
             ALTER TABLE translations RENAME TO translations_v0;",
        )?;
    }
    tx.execute_batch(TRANSLATIONS)?;
    if old {
        let copied = tx.execute(
            "INSERT OR IGNORE INTO translations
             (platform, user, day, message, at_us, source, targets, text)
             SELECT platform, user, day, message,
                    at * 1000000 + row_number() OVER (PARTITION BY at ORDER BY rowid) - 1,
                    source, targets, text
             FROM translations_v0",
            [],
        )?;
        tx.execute_batch("DROP TABLE translations_v0")?;
        tracing::info!(
            rows = copied,
            "store: translations moved to schema version 1"
        );
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

const SECONDS_PER_DAY: u64 = 86_400;

/// How often rows past the retention period are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A translation request to record.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub source: Option<&'static Lang>,
    pub targets: &'a [&'static Lang],
    /// The user's text, kept for `/history` only where history is on.
    pub text: Option<&'a str>,
}

/// Whether a request may go ahead under the daily quota.
#[derive(Debug)]
pub enum Admission {
    /// Counted, and its row queued (or written): see the receipt.
    Admitted(Receipt),
    /// The user's quota for today is spent; it renews in `resets_in` (UTC midnight).
    QuotaReached { limit: u32, resets_in: Duration },
}

/// One `/history` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: SystemTime,
    pub source: Option<&'static Lang>,
    pub targets: Vec<&'static Lang>,
    pub text: String,
}

/// Users whose defaults (set or not) the cache keeps: an estimated ~200 bytes each.
const DEFAULTS_CACHED: u64 = 20_000;

/// The users' defaults as the table holds them, for the most recently active users; lives in
/// the [`Store`]. An entry is written only while the connection's lock is held (after reading
/// the table, or after changing it), so a reader cannot put back a value a writer just replaced.
pub(super) struct DefaultsCache(moka::sync::Cache<UserKey, Arc<[&'static Lang]>>);

impl Default for DefaultsCache {
    fn default() -> Self {
        Self(moka::sync::Cache::new(DEFAULTS_CACHED))
    }
}

/// Bookkeeping for pruning; lives in the [`Store`].
#[derive(Debug, Default)]
pub(super) struct Pruning {
    last: AtomicU64,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Microseconds since the epoch: fine enough to keep one user's requests in order.
fn unix_us(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

const MICROS: i64 = 1_000_000;

fn codes(langs: &[&'static Lang]) -> String {
    langs.iter().map(|l| l.code).collect::<Vec<_>>().join(",")
}

fn langs(codes: &str) -> Vec<&'static Lang> {
    codes.split(',').filter_map(Lang::from_code).collect()
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The durability of an admitted request's row: await [`Receipt::durable`] before the reply
/// goes out, so that a reply is never sent for a request not yet counted.
#[derive(Debug)]
pub struct Receipt(Option<Answer<()>>);

impl Receipt {
    /// Resolves once the row is committed (at once if it was already). An error means the
    /// row was not written.
    pub async fn durable(self) -> Result<(), StoreError> {
        match self.0 {
            Some(written) => written.await,
            None => Ok(()),
        }
    }
}

/// The write [`Store::admit`] queued.
enum Queued {
    Admit(Answer<()>),
    /// Answers with the day's other rows and whether the request was admitted.
    Check(Answer<(u32, bool)>),
}

/// One `translations` row, ready for the writer thread.
struct Row {
    platform: &'static str,
    user: String,
    day: u64,
    message: String,
    at_us: i64,
    source: Option<&'static str>,
    targets: String,
    text: Option<String>,
    /// Also delete the rows older than this (Unix seconds).
    prune_before: Option<u64>,
}

impl Row {
    /// Counts the user's other rows of the day (the index covers the query, and the count
    /// stops growing at the limit, so this stays cheap for the heaviest user), and writes the
    /// row if they are under `limit`. Returns the count and whether the row was written.
    fn check_and_write(self, conn: &Connection, limit: u32) -> Result<(u32, bool), StoreError> {
        let used: u32 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM translations
                 WHERE platform = ?1 AND user = ?2 AND day = ?3 AND message != ?4",
            )?
            .query_row(
                params![self.platform, self.user, to_i64(self.day), &self.message],
                |r| r.get(0),
            )?;
        if used >= limit {
            return Ok((used, false));
        }
        self.write(conn)?;
        Ok((used, true))
    }

    /// Writes the row (unless the message has one, of this day or the day before) and prunes.
    fn write(self, conn: &Connection) -> Result<(), StoreError> {
        // The key has the day (the quota counts a day's rows in one range), so a message redone
        // just after midnight is looked for the day before too.
        conn.prepare_cached(
            "INSERT OR IGNORE INTO translations
             (platform, user, day, message, at_us, source, targets, text)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
             WHERE NOT EXISTS (SELECT 1 FROM translations
                 WHERE platform = ?1 AND user = ?2 AND day = ?3 - 1 AND message = ?4)",
        )?
        .execute(params![
            self.platform,
            self.user,
            to_i64(self.day),
            self.message,
            self.at_us,
            self.source,
            self.targets,
            self.text
        ])?;
        if let Some(cutoff) = self.prune_before {
            let pruned = conn.execute(
                "DELETE FROM translations WHERE at_us < ?1",
                params![to_i64(cutoff).saturating_mul(MICROS)],
            )?;
            if pruned > 0 {
                tracing::debug!(
                    rows = pruned,
                    "pruned translations past the retention period"
                );
            }
        }
        Ok(())
    }
}

impl Store {
    /// The user's default target languages (empty when none are set). From the cache when the
    /// user was seen lately, so the common case takes no lock.
    pub fn defaults(&self, user: &UserKey) -> Result<Arc<[&'static Lang]>, StoreError> {
        if let Some(cached) = self.defaults.0.get(user) {
            return Ok(cached);
        }
        let conn = self.lock();
        let stored: Option<String> = conn
            .prepare_cached("SELECT defaults FROM user_settings WHERE platform = ?1 AND user = ?2")?
            .query_row(params![user.platform.as_str(), &*user.user], |r| r.get(0))
            .optional()?;
        let defaults: Arc<[&'static Lang]> =
            stored.as_deref().map(langs).unwrap_or_default().into();
        self.defaults.0.insert(user.clone(), Arc::clone(&defaults));
        Ok(defaults)
    }

    /// Sets the user's default target languages; an empty list removes them.
    pub fn set_defaults(
        &self,
        user: &UserKey,
        targets: &[&'static Lang],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let conn = self.lock();
        if targets.is_empty() {
            conn.execute(
                "DELETE FROM user_settings WHERE platform = ?1 AND user = ?2",
                params![user.platform.as_str(), &*user.user],
            )?;
        } else {
            conn.execute(
                "INSERT INTO user_settings (platform, user, defaults, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (platform, user)
                 DO UPDATE SET defaults = excluded.defaults, updated_at = excluded.updated_at",
                params![
                    user.platform.as_str(),
                    &*user.user,
                    codes(targets),
                    to_i64(unix(now))
                ],
            )?;
        }
        self.defaults.0.invalidate(user);
        Ok(())
    }

    /// Records a translation request for `message`, unless the user's quota for today is spent
    /// (`limit`: `None` is no limit). The same message recorded twice counts once: again the
    /// same UTC day or the next (a message redone after more than a day, which only a process
    /// down for that long could do, would count twice).
    ///
    /// A user known to be under the limit is admitted at once ([`super::quota`]); otherwise the
    /// writer thread counts the day's rows first. Either way the row is committed with whatever
    /// else is queued (see [`super::writer`]), and the [`Receipt`] of an admission says when it
    /// is durable. Writes are committed in the order they were queued, so a write queued after
    /// the receipt (an answered update leaving the inbox) is never durable before it.
    pub async fn admit(
        &self,
        user: &UserKey,
        message: &MessageKey,
        entry: Entry<'_>,
        limit: Option<u32>,
        now: SystemTime,
        retention: Duration,
    ) -> Result<Admission, StoreError> {
        let at = unix(now);
        let day = at / SECONDS_PER_DAY;
        // Retention: at most once an hour, delete what is older than the period.
        let last = self.pruning.last.load(Ordering::Relaxed);
        let prune_before = (at.saturating_sub(last) >= PRUNE_EVERY.as_secs()).then(|| {
            self.pruning.last.store(at, Ordering::Relaxed);
            at.saturating_sub(retention.as_secs())
        });
        let row = Row {
            platform: user.platform.as_str(),
            user: user.user.to_string(),
            day,
            message: message.to_string(),
            at_us: unix_us(now),
            source: entry.source.map(|l| l.code),
            targets: codes(entry.targets),
            text: entry.text.map(str::to_owned),
            prune_before,
        };
        let Some(limit) = limit else {
            let written = self.writer.submit("admit", move |conn| row.write(conn));
            return Ok(Admission::Admitted(Receipt(Some(written))));
        };
        let (queued, ticket) = self.quotas.decide(user, day, limit, |path| match path {
            Path::Admit => Queued::Admit(self.writer.submit("admit", move |conn| row.write(conn))),
            Path::Check => Queued::Check(
                self.writer
                    .submit("admit", move |conn| row.check_and_write(conn, limit)),
            ),
        });
        let checked = match queued {
            Queued::Admit(written) => return Ok(Admission::Admitted(Receipt(Some(written)))),
            Queued::Check(checked) => checked.await?,
        };
        let (used, admitted) = checked;
        if let Some(ticket) = ticket {
            ticket.settle(used, admitted);
        }
        if admitted {
            // Committed already: nothing left to wait for.
            return Ok(Admission::Admitted(Receipt(None)));
        }
        let next_midnight = (day + 1) * SECONDS_PER_DAY;
        Ok(Admission::QuotaReached {
            limit,
            resets_in: Duration::from_secs(next_midnight.saturating_sub(at)),
        })
    }

    /// The user's last `n` translations that kept their text, newest first.
    pub fn history(&self, user: &UserKey, n: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT at_us, source, targets, text FROM translations
             WHERE platform = ?1 AND user = ?2 AND text IS NOT NULL
             ORDER BY at_us DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![
                user.platform.as_str(),
                &*user.user,
                i64::try_from(n).unwrap_or(i64::MAX)
            ],
            |r| {
                let at_us: i64 = r.get(0)?;
                let source: Option<String> = r.get(1)?;
                let targets: String = r.get(2)?;
                let text: String = r.get(3)?;
                Ok(HistoryEntry {
                    at: UNIX_EPOCH + Duration::from_micros(u64::try_from(at_us).unwrap_or(0)),
                    source: source.as_deref().and_then(Lang::from_code),
                    targets: langs(&targets),
                    text,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The user's target languages by how often they were asked for (most first, then by
    /// code), over what is stored.
    pub fn favorites(&self, user: &UserKey) -> Result<Vec<(&'static Lang, u64)>, StoreError> {
        let conn = self.lock();
        let mut stmt =
            conn.prepare("SELECT targets FROM translations WHERE platform = ?1 AND user = ?2")?;
        let mut counts: Vec<(&'static Lang, u64)> = Vec::new();
        let rows = stmt.query_map(params![user.platform.as_str(), &*user.user], |r| {
            r.get::<_, String>(0)
        })?;
        for row in rows {
            for lang in langs(&row?) {
                match counts.iter_mut().find(|(l, _)| *l == lang) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((lang, 1)),
                }
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.code.cmp(b.0.code)));
        Ok(counts)
    }

    /// Deletes everything stored about the user; returns how many records went.
    pub fn forget(&self, user: &UserKey) -> Result<u64, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut removed = 0;
        for table in ["translations", "user_settings"] {
            removed += tx.execute(
                &format!("DELETE FROM {table} WHERE platform = ?1 AND user = ?2"),
                params![user.platform.as_str(), &*user.user],
            )?;
        }
        tx.commit()?;
        self.defaults.0.invalidate(user);
        self.quotas.forget(user);
        Ok(removed as u64)
    }

    /// How many rows of any kind the store holds about the user (for tests and audits).
    pub fn records_about(&self, user: &UserKey) -> Result<u64, StoreError> {
        let conn = self.lock();
        let mut total = 0u64;
        for table in ["translations", "user_settings"] {
            let n: i64 = conn.query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE platform = ?1 AND user = ?2"),
                params![user.platform.as_str(), &*user.user],
                |r| r.get(0),
            )?;
            total += u64::try_from(n).unwrap_or(0);
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChatKey, PlatformId};

    fn user(id: &str) -> UserKey {
        UserKey::new(PlatformId::Telegram, id)
    }

    fn msg(id: &str) -> MessageKey {
        MessageKey {
            chat: ChatKey::new(PlatformId::Telegram, "chat"),
            id: id.into(),
        }
    }

    fn lang(code: &str) -> &'static Lang {
        Lang::from_code(code).expect("known")
    }

    const DAY: Duration = Duration::from_secs(SECONDS_PER_DAY);
    const KEEP: Duration = Duration::from_secs(30 * SECONDS_PER_DAY);

    fn at(days: u64, secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(20_000 * SECONDS_PER_DAY + days * SECONDS_PER_DAY + secs)
    }

    /// The texts of the user's history, newest first.
    fn history_texts(store: &Store, u: &UserKey) -> Vec<String> {
        store
            .history(u, 10)
            .expect("history")
            .into_iter()
            .map(|e| e.text)
            .collect()
    }

    /// What an admission decided, once its row is durable.
    #[derive(Debug, PartialEq)]
    enum Got {
        Admitted,
        Refused { limit: u32, resets_in: Duration },
    }

    async fn got(a: Admission) -> Got {
        match a {
            Admission::Admitted(receipt) => {
                receipt.durable().await.expect("durable");
                Got::Admitted
            }
            Admission::QuotaReached { limit, resets_in } => Got::Refused { limit, resets_in },
        }
    }

    fn entry<'a>(targets: &'a [&'static Lang], text: Option<&'a str>) -> Entry<'a> {
        Entry {
            source: None,
            targets,
            text,
        }
    }

    #[test]
    fn defaults_are_set_read_and_cleared() {
        let store = Store::in_memory().expect("store");
        let u = user("1");
        assert!(store.defaults(&u).expect("read").is_empty());
        store
            .set_defaults(&u, &[lang("es"), lang("fr")], at(0, 0))
            .expect("set");
        assert_eq!(*store.defaults(&u).expect("read"), [lang("es"), lang("fr")]);
        store
            .set_defaults(&u, &[lang("ja")], at(0, 1))
            .expect("set");
        assert_eq!(*store.defaults(&u).expect("read"), [lang("ja")]);
        assert!(store.defaults(&user("2")).expect("read").is_empty());
        store.set_defaults(&u, &[], at(0, 2)).expect("clear");
        assert!(store.defaults(&u).expect("read").is_empty());
    }

    #[tokio::test]
    async fn the_quota_counts_messages_once_per_utc_day() {
        let store = Store::in_memory().expect("store");
        let u = user("1");
        let es = [lang("es")];
        let admit = async |m: &str, t: SystemTime| {
            store
                .admit(&u, &msg(m), entry(&es, None), Some(2), t, KEEP)
                .await
                .map(got)
                .expect("admit")
                .await
        };
        assert_eq!(admit("a", at(0, 10)).await, Got::Admitted);
        // The same message again (a crashed conversation redoing it) is not a second request.
        assert_eq!(admit("a", at(0, 11)).await, Got::Admitted);
        assert_eq!(admit("b", at(0, 12)).await, Got::Admitted);
        assert_eq!(
            admit("c", at(0, 3600)).await,
            Got::Refused {
                limit: 2,
                resets_in: DAY - Duration::from_secs(3600)
            }
        );
        // A new UTC day, a new quota; other users are not affected.
        assert_eq!(admit("c", at(1, 0)).await, Got::Admitted);
        assert_eq!(
            store
                .admit(
                    &user("2"),
                    &msg("x"),
                    entry(&es, None),
                    Some(2),
                    at(0, 20),
                    KEEP
                )
                .await
                .map(got)
                .expect("admit")
                .await,
            Got::Admitted
        );
        // No limit (an admin).
        for i in 0..5 {
            let m = format!("admin{i}");
            let r = store
                .admit(
                    &user("3"),
                    &msg(&m),
                    entry(&es, None),
                    None,
                    at(0, 30),
                    KEEP,
                )
                .await
                .map(got)
                .expect("admit")
                .await;
            assert_eq!(r, Got::Admitted);
        }
    }

    #[test]
    fn the_quota_is_counted_from_the_index_alone() {
        let store = Store::in_memory().expect("store");
        let conn = store.lock();
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM translations
                 WHERE platform = ?1 AND user = ?2 AND day = ?3 AND message != ?4",
            )
            .expect("prepare")
            .query_map(params!["telegram", "1", 1, "m"], |r| r.get(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(
            plan.iter().any(|p| p.contains("USING PRIMARY KEY")),
            "{plan:?}"
        );
    }

    #[tokio::test]
    async fn a_message_redone_just_after_midnight_counts_once() {
        let store = Store::in_memory().expect("store");
        let u = user("1");
        let es = [lang("es")];
        let admit = async |m: &str, t: SystemTime| {
            store
                .admit(&u, &msg(m), entry(&es, Some(m)), Some(5), t, KEEP)
                .await
                .map(got)
                .expect("admit")
                .await
        };
        assert_eq!(admit("a", at(0, SECONDS_PER_DAY - 1)).await, Got::Admitted);
        // Redone after midnight: admitted (it was), not recorded again, not counted today.
        assert_eq!(admit("a", at(1, 1)).await, Got::Admitted);
        assert_eq!(store.records_about(&u).expect("count"), 1);
        assert_eq!(admit("b", at(1, 2)).await, Got::Admitted);
        assert_eq!(store.records_about(&u).expect("count"), 2);
    }

    #[tokio::test]
    async fn requests_of_the_same_second_keep_their_order() {
        let store = Store::in_memory().expect("store");
        let u = user("1");
        let es = [lang("es")];
        for (i, m) in ["first", "second", "third"].into_iter().enumerate() {
            let t = at(0, 7) + Duration::from_micros(i as u64);
            store
                .admit(&u, &msg(m), entry(&es, Some(m)), None, t, KEEP)
                .await
                .map(got)
                .expect("admit")
                .await;
        }
        let texts = history_texts(&store, &u);
        assert_eq!(texts, ["third", "second", "first"]);
    }

    /// `translations` as version 0 of the schema made it.
    const SCHEMA_V0: &str = "
        CREATE TABLE translations (
            platform TEXT NOT NULL, user TEXT NOT NULL, message TEXT NOT NULL,
            at INTEGER NOT NULL, day INTEGER NOT NULL, source TEXT, targets TEXT NOT NULL,
            text TEXT, PRIMARY KEY (platform, user, message));
        CREATE INDEX translations_by_user_day ON translations (platform, user, day, message);
        CREATE INDEX translations_by_age ON translations (at);";

    #[tokio::test]
    async fn a_version_0_database_is_migrated_with_its_history_in_order() {
        let conn = Connection::open_in_memory().expect("db");
        conn.execute_batch(SCHEMA_V0).expect("v0");
        let t0 = 20_000 * SECONDS_PER_DAY + 100;
        // Two rows in the same second, written "b" then "a"; one older; another user's.
        for (user, message, at, text) in [
            ("1", "m1", t0 - 50, Some("older")),
            ("1", "m3", t0, Some("b")),
            ("1", "m2", t0, Some("a")),
            ("2", "m9", t0, None),
        ] {
            let day = at / SECONDS_PER_DAY;
            conn.execute(
                "INSERT INTO translations (platform, user, message, at, day, source, targets, text)
                 VALUES ('telegram', ?1, ?2, ?3, ?4, 'en', 'es,fr', ?5)",
                params![
                    user,
                    msg(message).to_string(),
                    to_i64(at),
                    to_i64(day),
                    text
                ],
            )
            .expect("v0 row");
        }
        let store = Store::init(conn, None).expect("migrated");
        let u = user("1");
        let h = store.history(&u, 10).expect("history");
        let texts: Vec<&str> = h.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "older"]);
        assert_eq!(h[2].at, UNIX_EPOCH + Duration::from_secs(t0 - 50));
        assert_eq!(h[0].targets, [lang("es"), lang("fr")]);
        assert_eq!(h[0].source, Some(lang("en")));
        assert_eq!(store.records_about(&user("2")).expect("count"), 1);
        // The quota still counts the day's rows, and a migrated message is not recorded twice.
        let now = UNIX_EPOCH + Duration::from_secs(t0 + 1);
        let redo = store
            .admit(
                &u,
                &msg("m2"),
                entry(&[lang("es")], None),
                Some(10),
                now,
                KEEP,
            )
            .await
            .map(got)
            .expect("admit")
            .await;
        assert_eq!(redo, Got::Admitted);
        assert_eq!(store.records_about(&u).expect("count"), 3);
        let conn = store.lock();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let left: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'translations%'",
                [],
                |r| r.get(0),
            )
            .expect("tables");
        assert_eq!(left, 2, "the table and its age index, nothing of version 0");
    }

    #[tokio::test]
    async fn history_keeps_only_texts_it_was_given_newest_first() {
        let store = Store::in_memory().expect("store");
        let u = user("1");
        let targets = [lang("es"), lang("de")];
        for (i, text) in [Some("one"), None, Some("three")].into_iter().enumerate() {
            let t = at(0, i as u64);
            store
                .admit(
                    &u,
                    &msg(&i.to_string()),
                    entry(&targets, text),
                    None,
                    t,
                    KEEP,
                )
                .await
                .map(got)
                .expect("admit")
                .await;
        }
        let h = store.history(&u, 10).expect("history");
        let texts: Vec<&str> = h.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["three", "one"]);
        assert_eq!(h[0].targets, targets);
        assert_eq!(h[0].at, at(0, 2));
        assert_eq!(store.history(&u, 1).expect("history").len(), 1);
    }

    #[tokio::test]
    async fn favorites_count_targets() {
        let store = Store::in_memory().expect("store");
        let u = user("1");
        let sets: [&[&'static Lang]; 3] = [
            &[lang("es"), lang("fr")],
            &[lang("fr")],
            &[lang("ja"), lang("fr")],
        ];
        for (i, targets) in sets.into_iter().enumerate() {
            store
                .admit(
                    &u,
                    &msg(&i.to_string()),
                    entry(targets, None),
                    None,
                    at(0, 0),
                    KEEP,
                )
                .await
                .map(got)
                .expect("admit")
                .await;
        }
        let favorites = store.favorites(&u).expect("favorites");
        assert_eq!(
            favorites,
            [(lang("fr"), 3), (lang("es"), 1), (lang("ja"), 1)]
        );
    }

    #[tokio::test]
    async fn forget_deletes_everything_about_the_user_and_nothing_else() {
        let store = Store::in_memory().expect("store");
        let (u, other) = (user("1"), user("2"));
        let es = [lang("es")];
        for who in [&u, &other] {
            store.set_defaults(who, &es, at(0, 0)).expect("set");
            for m in ["a", "b"] {
                store
                    .admit(who, &msg(m), entry(&es, Some("text")), None, at(0, 0), KEEP)
                    .await
                    .map(got)
                    .expect("admit")
                    .await;
            }
        }
        assert_eq!(store.records_about(&u).expect("count"), 3);
        // Read once, so the defaults are cached when /forget comes.
        assert_eq!(*store.defaults(&u).expect("defaults"), es);
        assert_eq!(store.forget(&u).expect("forget"), 3);
        assert_eq!(store.records_about(&u).expect("count"), 0);
        assert!(store.history(&u, 10).expect("history").is_empty());
        assert!(
            store.defaults(&u).expect("defaults").is_empty(),
            "not from the cache"
        );
        assert_eq!(*store.defaults(&other).expect("defaults"), es);
        assert_eq!(store.records_about(&other).expect("count"), 3);
    }

    #[tokio::test]
    async fn rows_past_the_retention_period_are_pruned() {
        let store = Store::in_memory().expect("store");
        let u = user("1");
        let es = [lang("es")];
        let keep = 2 * DAY;
        store
            .admit(
                &u,
                &msg("old"),
                entry(&es, Some("old")),
                None,
                at(0, 0),
                keep,
            )
            .await
            .map(got)
            .expect("admit")
            .await;
        store
            .admit(
                &u,
                &msg("new"),
                entry(&es, Some("new")),
                None,
                at(3, 0),
                keep,
            )
            .await
            .map(got)
            .expect("admit")
            .await;
        let texts = history_texts(&store, &u);
        assert_eq!(texts, ["new"]);
    }
}
