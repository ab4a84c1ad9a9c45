//! The offline demo provider: the built-in phrasebook, and an honest answer outside it.
//!
//! It exists so the runtime can be tried with no network and no API key. It never pretends: a
//! phrase it does not know is reported as such ([`ProviderError::Unsupported`]), and replies
//! built from its answers say they come from the offline demo.

use super::phrasebook;
use super::{Answer, Provider, ProviderError, TranslateJob};

/// What the demo says when it does not know a phrase.
pub const NOT_IN_PHRASEBOOK: &str = "not in the offline demo phrasebook";

/// See the module docs.
pub struct DemoProvider;

#[async_trait::async_trait]
impl Provider for DemoProvider {
    async fn translate(&self, job: &TranslateJob) -> Result<Answer, ProviderError> {
        if job.source.is_some_and(|s| s.code != "en") {
            return Err(ProviderError::Unsupported(
                "the offline demo only translates from English".into(),
            ));
        }
        phrasebook::lookup(&job.text, job.target.code)
            .map(Answer::text)
            .ok_or_else(|| ProviderError::Unsupported(NOT_IN_PHRASEBOOK.into()))
    }

    fn is_demo(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::Lang;
    use tokio::time::Instant;

    fn job(text: &str, target: &str) -> TranslateJob {
        TranslateJob {
            text: text.into(),
            source: None,
            target: Lang::from_code(target).expect("known language"),
            deadline: Instant::now(),
        }
    }

    #[tokio::test]
    async fn knows_its_phrases_and_admits_the_rest() {
        let demo = DemoProvider;
        assert_eq!(
            demo.translate(&job("good morning", "fr")).await,
            Ok(Answer::text("Bonjour"))
        );
        assert_eq!(
            demo.translate(&job("the cat sleeps", "fr")).await,
            Err(ProviderError::Unsupported(NOT_IN_PHRASEBOOK.into()))
        );
    }
}
