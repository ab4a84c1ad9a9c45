//! Faults injected into one provider on purpose (admin API), for game days and soak tests.
//!
//! While active, every attempt at the provider first waits `latency`, then fails with
//! probability `error_rate` as if the provider had answered HTTP 503. The rest of the pipeline
//! cannot tell the difference: retries, the breaker, fallback and hedging react as they would to
//! a real outage. Faults end by themselves after their duration.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::providers::ProviderError;

/// What to inject, and until when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    pub latency: Duration,
    /// 0.0 to 1.0.
    pub error_rate: f64,
    pub until: Instant,
}

/// A fault as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FaultView {
    pub latency_ms: u64,
    pub error_rate: f64,
    pub remaining_s: f64,
}

impl Fault {
    pub fn view(&self) -> FaultView {
        FaultView {
            latency_ms: self.latency.as_millis() as u64,
            error_rate: self.error_rate,
            remaining_s: self
                .until
                .saturating_duration_since(Instant::now())
                .as_secs_f64(),
        }
    }
}

/// The faults of one provider. See the module docs.
#[derive(Debug, Default)]
pub struct Faults {
    current: Mutex<Option<Fault>>,
}

impl Faults {
    pub fn inject(&self, fault: Fault) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(fault);
    }

    /// Ends the faults; says whether any were active.
    pub fn clear(&self) -> bool {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .is_some_and(|f| f.until > Instant::now())
    }

    /// The fault in force now, if any.
    pub fn active(&self) -> Option<Fault> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match *cur {
            Some(f) if f.until > Instant::now() => Some(f),
            Some(_) => {
                *cur = None;
                None
            }
            None => None,
        }
    }

    /// Applies the active fault to one attempt: waits its latency, then fails it or not.
    pub async fn apply(&self) -> Result<(), ProviderError> {
        let Some(fault) = self.active() else {
            return Ok(());
        };
        if !fault.latency.is_zero() {
            tokio::time::sleep(fault.latency).await;
        }
        if fault.error_rate > 0.0 && fastrand::f64() < fault.error_rate {
            tracing::debug!("injected provider fault");
            return Err(ProviderError::Status {
                status: 503,
                retry_after: None,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn faults_fail_calls_until_they_expire() {
        let faults = Faults::default();
        assert!(faults.apply().await.is_ok());
        faults.inject(Fault {
            latency: Duration::from_millis(200),
            error_rate: 1.0,
            until: Instant::now() + Duration::from_secs(10),
        });
        let started = Instant::now();
        assert!(faults.apply().await.is_err());
        assert_eq!(started.elapsed(), Duration::from_millis(200));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(faults.active().is_none());
        assert!(faults.apply().await.is_ok());
        assert!(!faults.clear());
    }
}
