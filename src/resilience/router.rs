//! The router: one translation job across the providers, with fallback and hedging.
//!
//! Before any provider is asked, the job is looked up in a cache of recent translations (moka,
//! bounded by bytes and time); an identical job already in flight is joined instead of repeated,
//! so N people translating the same announcement at once cost one provider call.
//!
//! Providers are tried in configured priority order. Before a provider is tried it must be
//! fit: its circuit not open, today's budget not spent, no `Retry-After` that outlasts the
//! deadline; unfit providers are skipped (and say why, for the reply if nothing else works). A
//! user past their daily budget is served by free providers only; near a budget (theirs, or a
//! provider's own) cheaper providers go first.
//!
//! A provider whose bulkhead is full is waited for a bounded time, then the next one is tried;
//! when it is the last provider that could answer, its bulkhead is waited for until the
//! deadline instead (still within the bounded number of waiters).
//!
//! One call is in flight at a time, except for a hedge: if the current provider has not
//! answered after its hedge delay, and the hedge budget allows, the next fit provider (one that
//! can answer before the deadline) gets the same job too. The first good answer wins and the
//! other call is cancelled (its future is dropped, which drops the watch sender the provider
//! actor's call task listens to, which drops the HTTP request). A failure moves on to the next
//! provider at once, even while a hedge (or the call it hedged) is still running, so at most two
//! calls run for one job. Nothing outlives the job's deadline.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use moka::future::Cache;
use tokio::sync::watch;
use tokio::time::Instant;

use super::config::ResilienceConfig;
use super::guard::ProviderGuard;
use super::hedge::{self, HedgeBudget};
use super::quota::UserSpend;
use crate::actors::provider::ProviderMsg;
use crate::providers::{ProviderError, TranslateJob, Translation};
use crate::supervision::{CallError, Slot, call};
use crate::telemetry::metrics::Metrics;

/// One provider as the router sees it: its actor's slot and its guard.
#[derive(Clone)]
pub struct Route {
    pub name: Arc<str>,
    pub slot: Arc<Slot<ProviderMsg>>,
    pub guard: Arc<ProviderGuard>,
    pub demo: bool,
}

/// See the module docs.
pub struct Router {
    routes: Vec<Route>,
    hedges: HedgeBudget,
    users: UserSpend,
    prefer_cheaper_at: f64,
    /// Recent translations by (text, source, target); also coalesces identical jobs in flight.
    cache: Option<Cache<JobKey, Translation>>,
    metrics: Metrics,
}

/// What makes two jobs the same: the text and both languages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct JobKey {
    text: Arc<str>,
    source: Option<&'static str>,
    target: &'static str,
}

/// The cache's bounds.
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    /// Bytes of texts kept at most; 0: no cache, no coalescing.
    pub max_bytes: u64,
    pub ttl: std::time::Duration,
}

/// Who asked, for the per-user budget (a platform-qualified id; never logged or labelled).
pub type Requester = Arc<str>;

impl Router {
    /// `routes` in priority order.
    pub fn new(
        routes: Vec<Route>,
        config: &ResilienceConfig,
        cache: CacheConfig,
        metrics: Metrics,
    ) -> Self {
        let cache = (cache.max_bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(cache.max_bytes)
                .weigher(|k: &JobKey, v: &Translation| {
                    u32::try_from(k.text.len() + v.text.len() + 64).unwrap_or(u32::MAX)
                })
                .time_to_live(cache.ttl)
                .build()
        });
        Self {
            routes,
            hedges: HedgeBudget::new(config.hedge_budget),
            users: UserSpend::new(config.user_daily_budget),
            prefer_cheaper_at: config.prefer_cheaper_at,
            cache,
            metrics,
        }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Every provider is the offline demo.
    pub fn demo_only(&self) -> bool {
        !self.routes.is_empty() && self.routes.iter().all(|r| r.demo)
    }

    /// The providers in the order to try them for `user`, with the reason for each one left out.
    fn candidates(&self, user: Option<&Requester>) -> (Vec<&Route>, Vec<ProviderError>) {
        let user_used = user.map_or(0.0, |u| self.users.used(u));
        let mut skipped = Vec::new();
        let mut order: Vec<&Route> = self
            .routes
            .iter()
            .filter(|r| {
                let paid = !r.guard.policies.cost.is_free();
                if user_used >= 1.0 && paid {
                    self.metrics.provider_skipped(&r.name, "user_budget");
                    skipped.push(ProviderError::QuotaExhausted);
                    false
                } else {
                    true
                }
            })
            .collect();
        let price = |r: &Route| r.guard.policies.cost.unit_price();
        if user_used >= self.prefer_cheaper_at {
            order.sort_by(|a, b| price(a).total_cmp(&price(b)));
        } else {
            // A provider near its own budget yields to every cheaper one.
            for near in self
                .routes
                .iter()
                .filter(|r| r.guard.budget_used() >= self.prefer_cheaper_at)
            {
                let Some(at) = order
                    .iter()
                    .position(|r| Arc::ptr_eq(&r.guard, &near.guard))
                else {
                    continue;
                };
                if let Some(last_cheaper) = order.iter().rposition(|r| price(r) < price(near))
                    && last_cheaper > at
                {
                    let moved = order.remove(at);
                    order.insert(last_cheaper, moved);
                }
            }
        }
        (order, skipped)
    }

    /// Translates `job` for `user`: from the cache, by joining an identical job in flight, or
    /// through the providers with fallback and hedging. See the module docs.
    pub async fn translate(
        &self,
        job: &TranslateJob,
        user: Option<&Requester>,
    ) -> Result<Translation, ProviderError> {
        let Some(cache) = &self.cache else {
            return self.route(job, user).await;
        };
        let key = JobKey {
            text: job.text.as_str().into(),
            source: job.source.map(|l| l.code),
            target: job.target.code,
        };
        // Errors are not cached; callers that joined a failed job share its error.
        match cache
            .entry(key)
            .or_try_insert_with(self.route(job, user))
            .await
        {
            Ok(entry) => {
                let fresh = entry.is_fresh();
                self.metrics
                    .translation_cache(if fresh { "miss" } else { "hit" });
                let mut translation = entry.into_value();
                if !fresh {
                    translation.dollars = 0.0; // nobody paid for this one
                }
                Ok(translation)
            }
            Err(e) => Err((*e).clone()),
        }
    }

    /// Translates `job` through the providers. See the module docs.
    async fn route(
        &self,
        job: &TranslateJob,
        user: Option<&Requester>,
    ) -> Result<Translation, ProviderError> {
        let (order, mut errors) = self.candidates(user);
        let mut next = order.into_iter();
        let mut inflight = FuturesUnordered::new();
        let mut hedge_at: Option<Instant> = None;
        let mut hedged: Option<Arc<str>> = None;
        // The provider that just failed, until the job goes on to another one.
        let mut failed: Option<Arc<str>> = None;
        self.hedges.deposit();
        loop {
            if inflight.is_empty() {
                let Some(route) = self.next_fit(&mut next, job, &mut errors, false) else {
                    break;
                };
                if let Some(from) = failed.take() {
                    self.metrics.provider_fallback(&from);
                }
                hedge_at = hedge::delay(&route.guard).map(|d| Instant::now() + d);
                let last = !next.clone().any(|r| r.guard.unfit(job.deadline).is_none());
                inflight.push(attempt(route, job, last));
            }
            let hedge_armed = hedge_at.filter(|_| inflight.len() == 1);
            tokio::select! {
                Some((name, result)) = inflight.next() => match result {
                    Ok(translation) => {
                        if let Some(h) = &hedged {
                            let won = Arc::ptr_eq(h, &name);
                            self.metrics.hedge(h, if won { "won" } else { "lost" });
                        }
                        if let Some(user) = user {
                            self.users.charge(user, translation.dollars);
                        }
                        return Ok(translation);
                    }
                    Err(e) => {
                        tracing::debug!(provider = %name, lang = job.target.code, error = %e, "provider failed; trying the next one");
                        errors.push(e);
                        // Another call is still running (a hedge, or the call it hedged): do
                        // not just wait for it, fall back now alongside it.
                        if !inflight.is_empty() {
                            hedge_at = None;
                            if let Some(route) = self.next_fit(&mut next, job, &mut errors, false) {
                                self.metrics.provider_fallback(&name);
                                inflight.push(attempt(route, job, false));
                            }
                        } else {
                            failed = Some(name);
                        }
                    }
                },
                () = sleep_until_some(hedge_armed) => {
                    hedge_at = None;
                    if self.hedges.try_spend() {
                        let Some(route) = self.next_fit(&mut next, job, &mut errors, true) else {
                            self.hedges.refund();
                            continue;
                        };
                        tracing::debug!(provider = %route.name, lang = job.target.code, "hedging");
                        self.metrics.hedge(&route.name, "sent");
                        hedged = Some(route.name.clone());
                        inflight.push(attempt(route, job, false));
                    } else {
                        self.metrics.hedge_suppressed();
                    }
                }
                () = tokio::time::sleep_until(job.deadline) => {
                    errors.push(ProviderError::Timeout);
                    break;
                }
            }
        }
        Err(most_telling(errors))
    }

    /// The next provider fit for `job`; a hedge also needs one that typically answers before
    /// the deadline.
    fn next_fit<'a>(
        &self,
        next: &mut impl Iterator<Item = &'a Route>,
        job: &TranslateJob,
        errors: &mut Vec<ProviderError>,
        hedge: bool,
    ) -> Option<&'a Route> {
        for route in next.by_ref() {
            if let Some(reason) = route.guard.unfit(job.deadline) {
                self.metrics.provider_skipped(&route.name, reason.outcome());
                errors.push(reason);
                continue;
            }
            if hedge
                && Instant::now() + route.guard.latency.p50().unwrap_or_default() >= job.deadline
            {
                continue;
            }
            return Some(route);
        }
        None
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One call to one provider's actor. Dropping the future cancels the call. `last_resort`: no
/// other provider could take the job, so waiting for a bulkhead slot until the deadline beats
/// giving up.
async fn attempt(
    route: &Route,
    job: &TranslateJob,
    last_resort: bool,
) -> (Arc<str>, Result<Translation, ProviderError>) {
    let (alive, _) = watch::channel(());
    let answer = call(&route.slot, job.deadline, |reply| ProviderMsg::Translate {
        job: job.clone(),
        last_resort,
        reply,
        cancel: alive.subscribe(),
        span: tracing::Span::current(),
    })
    .await;
    let result = match answer {
        Ok(result) => result,
        Err(CallError::Timeout) => Err(ProviderError::Timeout),
    };
    (route.name.clone(), result)
}

/// The error that best explains a failed job: a real provider fault over a refusal over an
/// open circuit or spent budget over "not supported" over "unavailable".
pub fn most_telling(errors: Vec<ProviderError>) -> ProviderError {
    let rank = |e: &ProviderError| match e {
        e if e.is_provider_fault() => 0,
        ProviderError::Status { .. } => 1,
        ProviderError::Busy => 2,
        ProviderError::CircuitOpen { .. } => 3,
        ProviderError::QuotaExhausted => 4,
        ProviderError::Unsupported(_) => 5,
        _ => 6,
    };
    errors
        .into_iter()
        .enumerate()
        .min_by_key(|(i, e)| (rank(e), *i))
        .map(|(_, e)| e)
        .unwrap_or(ProviderError::Unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::Config;
    use crate::resilience::quota::Spent;

    fn router(prices: &[(&str, f64, f64)], user_budget: Option<f64>) -> Router {
        let config = Config::defaults().expect("defaults");
        let mut resilience = config.resilience.clone();
        resilience.user_daily_budget = user_budget;
        let routes = prices
            .iter()
            .map(|(name, per_million_chars, daily_budget)| {
                let mut policies = resilience.defaults.clone();
                policies.cost.per_million_chars = *per_million_chars;
                policies.cost.daily_budget = (*daily_budget > 0.0).then_some(*daily_budget);
                Route {
                    name: (*name).into(),
                    slot: Slot::new(),
                    guard: ProviderGuard::new(*name, policies, Metrics::new()),
                    demo: false,
                }
            })
            .collect();
        Router::new(
            routes,
            &resilience,
            CacheConfig {
                max_bytes: 0,
                ttl: std::time::Duration::from_secs(1),
            },
            Metrics::new(),
        )
    }

    fn order(r: &Router, user: Option<&Requester>) -> Vec<String> {
        r.candidates(user)
            .0
            .iter()
            .map(|r| r.name.to_string())
            .collect()
    }

    fn spend(r: &Router, name: &str, dollars: f64) {
        let route = r.routes.iter().find(|r| &*r.name == name).expect("route");
        route.guard.meter.charge(Spent {
            dollars,
            ..Spent::default()
        });
    }

    #[test]
    fn near_a_budget_cheaper_providers_go_first() {
        let r = router(
            &[
                ("dear", 30.0, 10.0),
                ("mid", 20.0, 0.0),
                ("cheap", 5.0, 0.0),
            ],
            None,
        );
        assert_eq!(order(&r, None), ["dear", "mid", "cheap"], "priority order");
        spend(&r, "dear", 8.5);
        assert_eq!(
            order(&r, None),
            ["mid", "cheap", "dear"],
            "at 85% of its budget, dear yields to every cheaper provider"
        );
        spend(&r, "dear", 2.0);
        assert!(
            r.routes[0]
                .guard
                .unfit(tokio::time::Instant::now())
                .is_some(),
            "spent"
        );
    }

    #[test]
    fn a_user_near_their_budget_gets_the_cheapest_first_and_past_it_only_free_ones() {
        let r = router(
            &[("dear", 30.0, 0.0), ("free", 0.0, 0.0), ("cheap", 5.0, 0.0)],
            Some(1.0),
        );
        let user: Requester = "telegram:1".into();
        assert_eq!(order(&r, Some(&user)), ["dear", "free", "cheap"]);
        r.users.charge(&user, 0.9);
        assert_eq!(order(&r, Some(&user)), ["free", "cheap", "dear"]);
        r.users.charge(&user, 0.2);
        let (order_past, skipped) = r.candidates(Some(&user));
        assert_eq!(order_past.len(), 1);
        assert_eq!(&*order_past[0].name, "free");
        assert_eq!(
            skipped,
            [ProviderError::QuotaExhausted, ProviderError::QuotaExhausted]
        );
        let other: Requester = "telegram:2".into();
        assert_eq!(
            order(&r, Some(&other)),
            ["dear", "free", "cheap"],
            "others unaffected"
        );
    }

    #[test]
    fn the_most_telling_error_wins() {
        let e = most_telling(vec![
            ProviderError::Unsupported("x".into()),
            ProviderError::CircuitOpen {
                retry_in: std::time::Duration::ZERO,
            },
            ProviderError::Timeout,
        ]);
        assert_eq!(e, ProviderError::Timeout);
        assert_eq!(most_telling(vec![]), ProviderError::Unavailable);
    }
}
