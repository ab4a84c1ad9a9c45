//! Quota and cost: what each provider and each user spent today, against optional daily
//! budgets.
//!
//! Every call to a provider is charged to its [`Meter`]: the characters sent, the tokens the
//! provider reports (estimated at four characters each when it reports none), and their
//! estimated price from the provider's `[cost]` table. A successful translation is also charged
//! to the user who asked ([`UserSpend`]). Days are UTC days; counters start again at midnight.
//! Routing reads the meters: a provider past its daily budget is skipped, a user past theirs is
//! only served by free providers, and near either budget cheaper providers go first.
//!
//! The counters live in memory, shared by the provider's actor and the router, and survive actor
//! restarts; a process restart starts them again (the budgets are guard rails, not billing).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::config::CostConfig;
use crate::providers::Usage;

/// Today's UTC day number.
pub fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

/// What one call used.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    pub chars: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub dollars: f64,
}

/// The price of a call of `chars` characters that answered `answer_chars` with `usage`.
pub fn price(cost: &CostConfig, chars: u64, answer_chars: u64, usage: Usage) -> Spent {
    let estimate = |c: u64| c.div_ceil(4);
    let llm = cost.per_million_input_tokens > 0.0 || cost.per_million_output_tokens > 0.0;
    let input_tokens = usage
        .input_tokens
        .unwrap_or(if llm { estimate(chars) } else { 0 });
    let output_tokens = usage
        .output_tokens
        .unwrap_or(if llm { estimate(answer_chars) } else { 0 });
    Spent {
        chars,
        input_tokens,
        output_tokens,
        dollars: cost.price(chars, input_tokens, output_tokens),
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Day {
    day: u64,
    chars: u64,
    dollars: f64,
}

/// One provider's spending today. See the module docs.
#[derive(Default)]
pub struct Meter {
    today: Mutex<Day>,
}

impl Meter {
    fn current(&self, day: u64) -> std::sync::MutexGuard<'_, Day> {
        let mut d = self.today.lock().unwrap_or_else(|e| e.into_inner());
        if d.day != day {
            *d = Day {
                day,
                ..Day::default()
            };
        }
        d
    }

    /// Adds one call; returns today's dollars so far.
    pub fn charge_on(&self, day: u64, spent: Spent) -> f64 {
        let mut d = self.current(day);
        d.chars += spent.chars;
        d.dollars += spent.dollars;
        d.dollars
    }

    pub fn charge(&self, spent: Spent) -> f64 {
        self.charge_on(today(), spent)
    }

    /// The larger of the fractions of today's dollar and character budgets used (0 without
    /// budgets; 1 or more: exhausted).
    pub fn used_on(&self, day: u64, cost: &CostConfig) -> f64 {
        let d = self.current(day);
        let dollars = cost.daily_budget.map_or(0.0, |b| d.dollars / b);
        let chars = cost.daily_chars.map_or(0.0, |b| d.chars as f64 / b as f64);
        dollars.max(chars)
    }

    pub fn used(&self, cost: &CostConfig) -> f64 {
        self.used_on(today(), cost)
    }
}

/// Every user's spending today, against the per-user daily budget.
pub struct UserSpend {
    budget: Option<f64>,
    today: Mutex<(u64, HashMap<Arc<str>, f64>)>,
}

impl UserSpend {
    pub fn new(budget: Option<f64>) -> Self {
        Self {
            budget,
            today: Mutex::new((0, HashMap::new())),
        }
    }

    fn with<T>(&self, day: u64, f: impl FnOnce(&mut HashMap<Arc<str>, f64>) -> T) -> T {
        let mut t = self.today.lock().unwrap_or_else(|e| e.into_inner());
        if t.0 != day {
            *t = (day, HashMap::new());
        }
        f(&mut t.1)
    }

    pub fn charge_on(&self, day: u64, user: &Arc<str>, dollars: f64) {
        if self.budget.is_none() || dollars <= 0.0 {
            return; // nothing to enforce: keep no per-user state at all
        }
        self.with(day, |m| *m.entry(user.clone()).or_default() += dollars);
    }

    pub fn charge(&self, user: &Arc<str>, dollars: f64) {
        self.charge_on(today(), user, dollars);
    }

    /// The fraction of the user's budget used today (0 without a budget).
    pub fn used_on(&self, day: u64, user: &str) -> f64 {
        let Some(budget) = self.budget else {
            return 0.0;
        };
        self.with(day, |m| m.get(user).copied().unwrap_or(0.0) / budget)
    }

    pub fn used(&self, user: &str) -> f64 {
        self.used_on(today(), user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost() -> CostConfig {
        CostConfig {
            per_million_chars: 20.0,
            per_million_input_tokens: 0.0,
            per_million_output_tokens: 0.0,
            daily_budget: Some(0.001),
            daily_chars: Some(100),
        }
    }

    #[test]
    fn prices_chars_and_estimates_missing_tokens() {
        let mt = price(&cost(), 50, 60, Usage::default());
        assert_eq!(mt.chars, 50);
        assert_eq!(mt.input_tokens, 0);
        assert!((mt.dollars - 0.001).abs() < 1e-12);
        let llm = CostConfig {
            per_million_chars: 0.0,
            per_million_input_tokens: 1.0,
            per_million_output_tokens: 2.0,
            daily_budget: None,
            daily_chars: None,
        };
        let reported = Usage {
            input_tokens: Some(100),
            output_tokens: Some(10),
        };
        let s = price(&llm, 40, 40, reported);
        assert!((s.dollars - 120e-6).abs() < 1e-12);
        let estimated = price(&llm, 40, 40, Usage::default());
        assert_eq!((estimated.input_tokens, estimated.output_tokens), (10, 10));
    }

    #[test]
    fn budgets_fill_and_a_new_day_starts_empty() {
        let m = Meter::default();
        let c = cost();
        m.charge_on(7, price(&c, 40, 40, Usage::default()));
        assert!((m.used_on(7, &c) - 0.8).abs() < 1e-9, "0.8 of the dollars");
        m.charge_on(7, price(&c, 70, 70, Usage::default()));
        assert!(m.used_on(7, &c) >= 1.0, "chars exhausted");
        assert_eq!(m.used_on(8, &c), 0.0, "tomorrow");

        let users = UserSpend::new(Some(0.01));
        let u: Arc<str> = "telegram:1".into();
        users.charge_on(7, &u, 0.005);
        assert!((users.used_on(7, "telegram:1") - 0.5).abs() < 1e-9);
        assert_eq!(users.used_on(7, "telegram:2"), 0.0);
        assert_eq!(users.used_on(8, "telegram:1"), 0.0);
        assert_eq!(UserSpend::new(None).used_on(7, "x"), 0.0);
    }
}
