//! The daily quota's counts, kept in memory so that a user well under the quota is admitted
//! without waiting for the database.
//!
//! Every translation request writes a row to `translations`, and under a quota the row is
//! written only after counting the user's rows of the day. Done in the writer thread, that
//! count makes every request wait for a commit before it can be translated. Most users are far
//! from their limit, and for them the answer is known: [`Quotas`] keeps, per user, an **upper
//! bound** of the day's rows (written, or queued to be written). While that bound is under the
//! limit, the request is admitted at once and its row queued without a check; near or past the
//! limit, or when the bound is not known yet, the writer counts in the database as before.
//!
//! Data flow: [`Quotas::decide`] takes the user's count under its lock, picks the path and
//! queues the matching write *while the lock is held*, so the writer thread sees one user's
//! writes in the order their counts were taken. A check comes back with a [`Ticket`], settled
//! with the writer's answer ([`Ticket::settle`]): the first answer gives the bound its value;
//! later ones only take back a request the check refused.
//!
//! Why an upper bound: a bound that is too high only sends a request to the exact check; one
//! that is too low would let a request through past the limit. Everything that can go missing
//! (an answer nobody waits for any more, a write that failed, a message redone after a crash)
//! leaves the bound too high, never too low. The one exception is an entry evicted while a
//! request of that user is being admitted on it: a request racing the eviction can then pass
//! uncounted, so a user can get one request past the limit. Entries are evicted least recently
//! used first, so this takes a user quiet for long enough to be evicted, whose next request
//! comes in the microseconds of the eviction.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::UserKey;

/// Users whose counts are kept: an estimated ~150 bytes each.
const CACHED: u64 = 20_000;

/// One user's count for one UTC day.
#[derive(Debug, Default)]
struct Count {
    /// A number no other count of this or any user ever has: answers to checks made for an
    /// earlier day (or before an eviction) are recognised by it and ignored.
    epoch: u64,
    day: u64,
    /// At least as many rows as the day has, written or queued; `None` until a check answers.
    upper: Option<u32>,
    /// Checks queued so far this day, numbered in queue order.
    checks: u64,
    /// The check whose answer set `upper`. Checks queued before it are in that answer; those
    /// after it are counted in `upper` until they answer.
    settled_by: u64,
}

/// The path [`Quotas::decide`] chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Path {
    /// Certainly under the limit: the request is counted; queue its row without a check.
    Admit,
    /// Let the writer count in the database, then settle the ticket with its answer.
    Check,
}

/// A check queued by [`Quotas::decide`], to settle with the writer's answer.
#[derive(Debug)]
pub(super) struct Ticket {
    count: Arc<Mutex<Count>>,
    epoch: u64,
    check: u64,
}

/// See the module docs; lives in the [`super::Store`].
pub(super) struct Quotas {
    counts: moka::sync::Cache<UserKey, Arc<Mutex<Count>>>,
    /// Hands out [`Count::epoch`].
    epochs: std::sync::atomic::AtomicU64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            counts: moka::sync::Cache::new(CACHED),
            epochs: std::sync::atomic::AtomicU64::new(1),
        }
    }
}

fn lock(count: &Mutex<Count>) -> MutexGuard<'_, Count> {
    // A panic while holding it leaves a count that is at worst too high: still usable.
    count.lock().unwrap_or_else(|e| e.into_inner())
}

impl Quotas {
    /// Chooses the path for one request of `user` on UTC `day` under `limit`, and calls
    /// `queue` with it while the user's count is locked. Returns what `queue` returned, and the
    /// ticket of a check.
    pub(super) fn decide<T>(
        &self,
        user: &UserKey,
        day: u64,
        limit: u32,
        queue: impl FnOnce(Path) -> T,
    ) -> (T, Option<Ticket>) {
        let entry = self.counts.get_with_by_ref(user, Arc::default);
        let mut count = lock(&entry);
        if count.epoch == 0 || count.day != day {
            *count = Count {
                epoch: self
                    .epochs
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                day,
                ..Count::default()
            };
        }
        match count.upper {
            Some(upper) if upper < limit => {
                count.upper = Some(upper + 1);
                (queue(Path::Admit), None)
            }
            upper => {
                // Counted until its answer says it was refused.
                count.upper = upper.map(|u| u.saturating_add(1));
                let check = count.checks;
                count.checks += 1;
                let ticket = Ticket {
                    count: Arc::clone(&entry),
                    epoch: count.epoch,
                    check,
                };
                (queue(Path::Check), Some(ticket))
            }
        }
    }

    /// Forgets the user's count (after their rows were deleted).
    pub(super) fn forget(&self, user: &UserKey) {
        self.counts.invalidate(user);
    }
}

impl Ticket {
    /// Takes the writer's answer to this check: the user had `used` rows that day besides this
    /// request's, and the request was `admitted` (its row written) or refused.
    pub(super) fn settle(self, used: u32, admitted: bool) {
        let mut count = lock(&self.count);
        if count.epoch != self.epoch {
            return;
        }
        match count.upper {
            None => {
                // Every check queued after this one may still add a row.
                let later = u32::try_from(count.checks - self.check - 1).unwrap_or(u32::MAX);
                count.upper = Some(
                    used.saturating_add(u32::from(admitted))
                        .saturating_add(later),
                );
                count.settled_by = self.check;
            }
            Some(upper) if self.check > count.settled_by && !admitted => {
                count.upper = Some(upper.saturating_sub(1));
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;
    use crate::domain::PlatformId;

    /// A write as the writer thread would run it: the row of a request, admitted at once or
    /// checked first (the ticket's index); `redo` for a message whose row exists already.
    struct Job {
        check: Option<usize>,
        redo: bool,
    }

    /// The database and the writer thread, as far as the counts are concerned.
    #[derive(Default)]
    struct Db {
        rows: u32,
        queue: VecDeque<Job>,
        /// Answers to checks the writer ran, on their way back: (ticket, used, admitted).
        answers: Vec<(usize, u32, bool)>,
    }

    impl Db {
        fn run_one(&mut self, limit: u32) {
            let Some(job) = self.queue.pop_front() else {
                return;
            };
            // A redo's row is there already: `INSERT OR IGNORE` adds nothing, and the count
            // leaves it out.
            let used = self.rows - u32::from(job.redo);
            let admitted = job.check.is_none() || used < limit;
            if admitted && !job.redo {
                self.rows += 1;
            }
            if let Some(t) = job.check {
                self.answers.push((t, used, admitted));
            }
        }
    }

    /// One step of the world around the counts.
    #[derive(Debug, Clone)]
    enum Step {
        /// A request arrives (`true`: a message already counted, redone by its conversation).
        Request(bool),
        /// The writer runs the oldest queued write.
        Run,
        /// The answer to one of the checks run reaches its caller (`true`), or nobody waits
        /// for it any more (`false`).
        Answer(usize, bool),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => Just(Step::Request(false)),
            1 => Just(Step::Request(true)),
            4 => Just(Step::Run),
            3 => (0usize..8, proptest::bool::weighted(0.9)).prop_map(|(n, d)| Step::Answer(n, d)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Whatever the order in which requests arrive, the writer runs and answers come back
        /// (or do not), no more rows are written than the limit allows, and the bound is never
        /// under the rows written.
        #[test]
        fn the_bound_never_lets_a_request_past_the_limit(
            limit in 1u32..12,
            steps in proptest::collection::vec(step(), 1..200),
        ) {
            let quotas = Quotas::default();
            let user = UserKey::new(PlatformId::Telegram, "1");
            let mut db = Db::default();
            let mut tickets: Vec<Option<Ticket>> = Vec::new();
            for s in steps {
                match s {
                    Step::Request(redo) => {
                        // Only a message that has its row can be redone.
                        let redo = redo && db.rows > 0;
                        let (_, ticket) = quotas.decide(&user, 7, limit, |path| {
                            let check = (path == Path::Check).then_some(tickets.len());
                            db.queue.push_back(Job { check, redo });
                        });
                        if let Some(t) = ticket {
                            tickets.push(Some(t));
                        }
                    }
                    Step::Run => db.run_one(limit),
                    Step::Answer(n, delivered) => {
                        if db.answers.is_empty() {
                            continue;
                        }
                        let (t, used, admitted) = db.answers.remove(n % db.answers.len());
                        if let Some(ticket) = tickets[t].take().filter(|_| delivered) {
                            ticket.settle(used, admitted);
                        }
                    }
                }
                prop_assert!(db.rows <= limit, "{} rows under a limit of {limit}", db.rows);
                let upper = quotas.counts.get(&user).and_then(|c| lock(&c).upper);
                if let Some(upper) = upper {
                    prop_assert!(upper >= db.rows, "bound {upper} under {} rows", db.rows);
                }
            }
            while !db.queue.is_empty() {
                db.run_one(limit);
            }
            prop_assert!(db.rows <= limit, "{} rows under a limit of {limit}", db.rows);
            for (t, used, admitted) in std::mem::take(&mut db.answers) {
                if let Some(ticket) = tickets[t].take() {
                    ticket.settle(used, admitted);
                }
            }
            let upper = quotas.counts.get(&user).and_then(|c| lock(&c).upper);
            if let Some(upper) = upper {
                prop_assert!(upper >= db.rows, "bound {upper} under the {} rows written", db.rows);
            }
        }
    }

    #[test]
    fn a_user_under_the_limit_is_admitted_without_a_check_once_counted() {
        let quotas = Quotas::default();
        let user = UserKey::new(PlatformId::Telegram, "1");
        let (path, ticket) = quotas.decide(&user, 1, 3, |p| p);
        assert_eq!(path, Path::Check, "nothing known yet");
        ticket.expect("a check").settle(0, true);
        assert_eq!(quotas.decide(&user, 1, 3, |p| p).0, Path::Admit);
        assert_eq!(quotas.decide(&user, 1, 3, |p| p).0, Path::Admit);
        // Three counted: the next one is checked, and refused.
        let (path, ticket) = quotas.decide(&user, 1, 3, |p| p);
        assert_eq!(path, Path::Check);
        ticket.expect("a check").settle(3, false);
        assert_eq!(quotas.decide(&user, 1, 3, |p| p).0, Path::Check);
        // A new day starts unknown; so does a user whose rows were deleted.
        assert_eq!(quotas.decide(&user, 2, 3, |p| p).0, Path::Check);
        quotas.forget(&user);
        assert_eq!(quotas.decide(&user, 2, 3, |p| p).0, Path::Check);
    }

    #[test]
    fn answers_arriving_out_of_order_count_each_request_once() {
        let quotas = Quotas::default();
        let user = UserKey::new(PlatformId::Telegram, "1");
        let mut checks = (0..3).map(|_| quotas.decide(&user, 1, 1, |p| p));
        let mut next = || {
            let (path, ticket) = checks.next().expect("three");
            assert_eq!(path, Path::Check);
            ticket.expect("a check")
        };
        let (first, second, third) = (next(), next(), next());
        // The writer ran them in order: the first written, the other two refused. The third's
        // answer comes back first; the second's refusal is already in it.
        third.settle(1, false);
        second.settle(1, false);
        first.settle(0, true);
        assert_eq!(quotas.decide(&user, 1, 1, |p| p).0, Path::Check);
    }

    #[test]
    fn an_answer_from_an_earlier_day_changes_nothing() {
        let quotas = Quotas::default();
        let user = UserKey::new(PlatformId::Telegram, "1");
        let (_, old) = quotas.decide(&user, 1, 5, |p| p);
        let (_, new) = quotas.decide(&user, 2, 5, |p| p);
        old.expect("a check").settle(4, true);
        assert_eq!(quotas.decide(&user, 2, 5, |p| p).0, Path::Check);
        new.expect("a check").settle(4, true);
        // 5 rows, one more check outstanding: at the limit, so checked.
        assert_eq!(quotas.decide(&user, 2, 5, |p| p).0, Path::Check);
    }
}
