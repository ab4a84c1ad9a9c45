//! Aggregator: one reply from every subtask's result, in the order the user asked.
//!
//! All succeeded: one line per language. Some failed: a first line says how many succeeded and
//! why the others failed ("2/3 translated; German failed: provider timed out"), then the
//! successes. None succeeded: the reason. Replies built from the offline demo say so.

use super::{RomaOutcome, SpeechError};
use crate::lang::Lang;
use crate::providers::ProviderError;
use crate::replies::{self, Locale};
use crate::telemetry::metrics::ReplyOutcome;

/// The reply text and how it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub outcome: ReplyOutcome,
}

/// `verbose`: each translation names the provider that made it (`/tr -v`).
pub fn aggregate(outcome: &RomaOutcome, verbose: bool, loc: Locale) -> Reply {
    let mut lines = Vec::new();
    match &outcome.transcript {
        Some(Err(e)) => {
            let reason = match e {
                SpeechError::Transcribe(e) => replies::provider_reason(loc, e),
                SpeechError::Timeout => replies::provider_reason(loc, &ProviderError::Timeout),
                SpeechError::Fetch => {
                    return Reply {
                        text: replies::voice_fetch_failed(loc),
                        outcome: ReplyOutcome::Error,
                    };
                }
            };
            return Reply {
                text: replies::voice_not_transcribed(loc, &reason),
                outcome: ReplyOutcome::Failed,
            };
        }
        Some(Ok(transcript)) if outcome.results.is_empty() => {
            return Reply {
                text: replies::transcript_only(loc, transcript),
                outcome: ReplyOutcome::Info,
            };
        }
        Some(Ok(transcript)) => lines.push(format!("\u{1f3a4} \u{201c}{transcript}\u{201d}")),
        None => {}
    }
    let total = outcome.results.len();
    let ok: Vec<_> = outcome
        .results
        .iter()
        .filter_map(|r| r.result.as_ref().ok().map(|t| (r.target, t)))
        .collect();
    let failed: Vec<_> = outcome
        .results
        .iter()
        .filter_map(|r| r.result.as_ref().err().map(|e| (r.target, e)))
        .collect();
    let demo = outcome.demo_only || ok.iter().any(|(_, t)| t.demo);

    if let Some(source) = outcome.source {
        let from = if source.detected {
            replies::detected_source(loc, source.lang)
        } else {
            replies::given_source(loc, source.lang)
        };
        lines.push(match source.lang.flag() {
            Some(flag) => format!("{flag} {from}"),
            None => from,
        });
    }
    let reply_outcome = if failed.is_empty() {
        ReplyOutcome::Translated
    } else if ok.is_empty() {
        lines.push(replies::translation_failed(
            loc,
            &reasons(&failed, total > 1, loc),
        ));
        ReplyOutcome::Failed
    } else {
        lines.push(format!(
            "{}; {}",
            replies::translated_count(loc, ok.len(), total),
            reasons(&failed, true, loc)
        ));
        ReplyOutcome::Partial
    };
    for (lang, t) in &ok {
        let via = if verbose && &*t.provider != "none" {
            format!(" (via {})", t.provider)
        } else {
            String::new()
        };
        // A translation of several lines starts on its own line.
        let sep = if t.text.contains('\n') { "\n" } else { " " };
        lines.push(format!("{}:{sep}{}{via}", label(lang), t.text));
    }
    let mut text = lines.join("\n");
    if demo {
        text.push_str("\n\n");
        let phrasebook_gap = failed
            .iter()
            .any(|(_, e)| matches!(e, ProviderError::Unsupported(_)));
        text.push_str(&if phrasebook_gap {
            replies::demo_explained(loc)
        } else {
            replies::demo_note(loc)
        });
    }
    Reply {
        text,
        outcome: reply_outcome,
    }
}

/// A language as the reply shows it: its flag, when it has one, and its name.
fn label(lang: &Lang) -> String {
    match lang.flag() {
        Some(flag) => format!("{flag} {}", lang.name),
        None => lang.name.to_string(),
    }
}

/// "German failed: provider timed out" or, grouped by reason,
/// "German and Japanese failed: provider timed out; Korean failed: ...".
fn reasons(failed: &[(&'static Lang, &ProviderError)], name_them: bool, loc: Locale) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for (lang, e) in failed {
        let reason = replies::provider_reason(loc, e);
        match groups.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, names)) => names.push(lang.name),
            None => groups.push((reason, vec![lang.name])),
        }
    }
    if !name_them && groups.len() == 1 {
        return groups.remove(0).0;
    }
    groups
        .into_iter()
        .map(|(reason, names)| replies::failed_for(loc, &names, &reason))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Translation;
    use crate::roma::SubtaskResult;

    fn ok(code: &str, text: &str) -> SubtaskResult {
        SubtaskResult {
            target: Lang::from_code(code).expect("lang"),
            result: Ok(Translation {
                text: text.into(),
                provider: "p".into(),
                demo: false,
                dollars: 0.0,
            }),
        }
    }

    fn err(code: &str, e: ProviderError) -> SubtaskResult {
        SubtaskResult {
            target: Lang::from_code(code).expect("lang"),
            result: Err(e),
        }
    }

    fn aggregate_plain(outcome: &RomaOutcome) -> Reply {
        aggregate(outcome, false, Locale::default())
    }

    #[test]
    fn verbose_names_the_providers() {
        let r = aggregate(
            &RomaOutcome {
                results: vec![ok("es", "Hola"), err("de", ProviderError::Busy)],
                demo_only: false,
                provider_time: std::time::Duration::ZERO,
                source: None,
                transcript: None,
            },
            true,
            Locale::default(),
        );
        assert_eq!(
            r.text,
            "1/2 translated; German failed: all providers busy, try again in a minute\n\
             🇪🇸 Spanish: Hola (via p)"
        );
    }

    #[test]
    fn all_in_order() {
        let r = aggregate_plain(&RomaOutcome {
            results: vec![ok("es", "Hola"), ok("fr", "Salut")],
            demo_only: false,
            provider_time: std::time::Duration::ZERO,
            source: None,
            transcript: None,
        });
        assert_eq!(r.text, "🇪🇸 Spanish: Hola\n🇫🇷 French: Salut");
        assert_eq!(r.outcome, ReplyOutcome::Translated);
    }

    #[test]
    fn partial_success_is_explicit() {
        let r = aggregate_plain(&RomaOutcome {
            results: vec![
                ok("es", "Hola"),
                ok("fr", "Salut"),
                err("de", ProviderError::Timeout),
            ],
            demo_only: false,
            provider_time: std::time::Duration::ZERO,
            source: None,
            transcript: None,
        });
        assert_eq!(
            r.text,
            "2/3 translated; German failed: provider timed out\n🇪🇸 Spanish: Hola\n🇫🇷 French: Salut"
        );
        assert_eq!(r.outcome, ReplyOutcome::Partial);
    }

    #[test]
    fn total_failure_and_demo_label() {
        let r = aggregate_plain(&RomaOutcome {
            results: vec![err(
                "es",
                ProviderError::Unsupported("not in the offline demo phrasebook".into()),
            )],
            demo_only: true,
            provider_time: std::time::Duration::ZERO,
            source: None,
            transcript: None,
        });
        assert!(
            r.text
                .starts_with("Translation failed: not in the offline demo phrasebook"),
            "{}",
            r.text
        );
        assert!(r.text.contains("offline demo"), "{}", r.text);
        assert_eq!(r.outcome, ReplyOutcome::Failed);
    }

    #[test]
    fn the_source_language_and_multi_line_translations() {
        let r = aggregate_plain(&RomaOutcome {
            results: vec![ok("en", "Hello\nworld"), ok("fr", "Salut")],
            demo_only: false,
            provider_time: std::time::Duration::ZERO,
            source: Some(crate::roma::Source {
                lang: Lang::from_code("it").expect("it"),
                detected: true,
            }),
            transcript: None,
        });
        assert_eq!(
            r.text,
            "🇮🇹 from Italian (detected)\n🇬🇧 English:\nHello\nworld\n🇫🇷 French: Salut"
        );
    }

    #[test]
    fn voice_shows_what_was_heard_or_why_not() {
        let heard = aggregate_plain(&RomaOutcome {
            results: vec![ok("es", "Hola")],
            demo_only: false,
            provider_time: std::time::Duration::ZERO,
            source: None,
            transcript: Some(Ok("hello".into())),
        });
        assert_eq!(heard.text, "🎤 “hello”\n🇪🇸 Spanish: Hola");
        let only = aggregate_plain(&RomaOutcome {
            results: vec![],
            demo_only: false,
            provider_time: std::time::Duration::ZERO,
            source: None,
            transcript: Some(Ok("hello".into())),
        });
        assert_eq!(only.outcome, ReplyOutcome::Info);
        assert!(only.text.contains("hello"), "{}", only.text);
        let failed = aggregate_plain(&RomaOutcome {
            results: vec![err("es", ProviderError::Timeout)],
            demo_only: false,
            provider_time: std::time::Duration::ZERO,
            source: None,
            transcript: Some(Err(SpeechError::Transcribe(ProviderError::Timeout))),
        });
        assert_eq!(failed.outcome, ReplyOutcome::Failed);
        assert!(failed.text.contains("timed out"), "{}", failed.text);
    }

    #[test]
    fn the_reply_speaks_the_users_language() {
        let r = aggregate(
            &RomaOutcome {
                results: vec![ok("en", "Hello"), err("ja", ProviderError::Timeout)],
                demo_only: false,
                provider_time: std::time::Duration::ZERO,
                source: None,
                transcript: None,
            },
            false,
            Locale::from_tag(Some("es")),
        );
        let first = r.text.lines().next().unwrap_or_default();
        assert!(first.starts_with("1 de 2 traducidos"), "{first}");
    }
}
