//! Atomizer and planner: from a request to plain-data subtasks.

use super::TranslateRequest;
use crate::lang::Lang;

/// Whether a request needs planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Atomicity {
    /// One text, one target: a single provider call.
    Atomic,
    /// Several targets: fan out.
    Composite,
}

/// One unit of work: the request's text into one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtask {
    /// Position of the target in the request (the aggregator's order).
    pub index: usize,
    pub target: &'static Lang,
}

pub fn atomize(request: &TranslateRequest) -> Atomicity {
    if request.targets.len() <= 1 {
        Atomicity::Atomic
    } else {
        Atomicity::Composite
    }
}

/// One subtask per target language, in the user's order.
pub fn plan(request: &TranslateRequest) -> Vec<Subtask> {
    request
        .targets
        .iter()
        .enumerate()
        .map(|(index, &target)| Subtask { index, target })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    fn request(targets: &[&str]) -> TranslateRequest {
        TranslateRequest {
            text: "hello".into(),
            source: None,
            targets: targets
                .iter()
                .map(|c| Lang::from_code(c).expect("known"))
                .collect(),
            deadline: Instant::now(),
            requester: None,
        }
    }

    #[test]
    fn one_target_is_atomic_many_fan_out_in_order() {
        assert_eq!(atomize(&request(&["es"])), Atomicity::Atomic);
        let r = request(&["de", "es", "fr"]);
        assert_eq!(atomize(&r), Atomicity::Composite);
        let plan = plan(&r);
        let codes: Vec<&str> = plan.iter().map(|s| s.target.code).collect();
        assert_eq!(codes, ["de", "es", "fr"]);
        assert_eq!(plan[2].index, 2);
    }
}
