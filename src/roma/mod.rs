//! The ROMA engine behind the coordinator: atomize → plan → execute → aggregate.
//!
//! - [`plan::atomize`] decides whether a request is atomic (one target) or composite;
//! - [`plan::plan`] emits one [`plan::Subtask`] per target language (plain data, testable
//!   without any provider);
//! - [`execute::execute`] runs the subtasks in parallel under a concurrency budget, each through
//!   the provider actors in priority order with fallback, within the request deadline;
//! - [`aggregate::aggregate`] builds one reply in the order the user asked, with explicit
//!   partial success.
//!
//! The coordinator actor (`src/actors/coordinator.rs`) runs one request per task; everything
//! here is a pure function of its inputs and the provider routes.

pub mod aggregate;
pub mod execute;
pub mod plan;

use tokio::time::Instant;

use crate::lang::Lang;
use crate::providers::{ProviderError, Translation};

/// What the coordinator is asked to do.
#[derive(Debug, Clone)]
pub struct TranslateRequest {
    pub text: String,
    pub source: Option<&'static Lang>,
    /// In the order the user asked for them.
    pub targets: Vec<&'static Lang>,
    pub deadline: Instant,
    /// Who asked (platform-qualified), for the per-user budget; never logged.
    pub requester: Option<std::sync::Arc<str>>,
}

/// The result for one target language.
#[derive(Debug, Clone)]
pub struct SubtaskResult {
    pub target: &'static Lang,
    pub result: Result<Translation, ProviderError>,
}

/// Every subtask's result, in the order of the request's targets.
#[derive(Debug, Clone)]
pub struct RomaOutcome {
    pub results: Vec<SubtaskResult>,
    /// Every configured provider is the offline demo (the reply says so).
    pub demo_only: bool,
}
