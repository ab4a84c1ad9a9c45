use std::sync::LazyLock;

use hashbrown::HashMap;

use super::utils::{TrigramsWithPositions, get_trigrams_with_positions};
use super::{ARABIC_LANGS, CYRILLIC_LANGS, DEVANAGARI_LANGS, HEBREW_LANGS, LATIN_LANGS};
use super::{LangProfile, LangProfileList};
use super::{MAX_TOTAL_DISTANCE, MAX_TRIGRAM_DISTANCE, Trigram};
use crate::Lang;
use crate::core::{FilterList, Info, InternalQuery, Text, calculate_confidence};
use crate::scripts::grouping::MultiLangScript;

#[derive(Debug)]
pub struct RawOutcome {
    pub trigrams_count: usize,
    #[allow(dead_code)]
    pub raw_distances: Vec<(Lang, u32)>,
    pub scores: Vec<(Lang, f64)>,
}

#[inline]
pub fn detect(iquery: &InternalQuery) -> Option<Info> {
    let raw_outcome = raw_detect(iquery);
    let RawOutcome {
        trigrams_count,
        scores,
        ..
    } = raw_outcome;

    let mut raw_scores_iter = scores.into_iter();

    let opt_lang_score1 = raw_scores_iter.next();
    let opt_lang_score2 = raw_scores_iter.next();

    // TODO: Logic is duplicated in alphabets. Consider refactoring
    opt_lang_score1.map(|(lang1, score1)| {
        let script = iquery.multi_lang_script.to_script();
        let confidence = if let Some((_, score2)) = opt_lang_score2 {
            calculate_confidence(score1, score2, trigrams_count)
        } else {
            1.0
        };
        Info::new(script, lang1, confidence)
    })
}

#[inline]
pub fn raw_detect(iquery: &InternalQuery) -> RawOutcome {
    let index = script_to_profile_index(iquery.multi_lang_script);
    calculate_scores_in_profiles(&iquery.text, iquery.filter_list, index)
}

// tolmach patch: an inverted index over each script's profiles.
//
// Upstream looks up every trigram of every profile of the script (about 40 Latin profiles x
// 300 trigrams = 12,000 hash look-ups) in the text's trigrams, whatever the text's length.
// The distance only changes for the profile trigrams the text has, so it is computed from
// the text's side: start every profile at `len * MAX_TRIGRAM_DISTANCE` (nothing matched) and,
// for each trigram of the text, correct the profiles that have it. The sums are the same
// integers as upstream's `calculate_distance`, so every score, order and confidence is too.
struct ProfileIndex {
    list: LangProfileList,
    // trigram -> (position of the profile in `list`, rank of the trigram in that profile)
    postings: HashMap<Trigram, Vec<(u16, u16)>>,
}

impl ProfileIndex {
    fn new(list: LangProfileList) -> Self {
        let mut postings: HashMap<Trigram, Vec<(u16, u16)>> = HashMap::new();
        for (l, (_, profile)) in list.iter().enumerate() {
            for (i, &trigram) in profile.iter().enumerate() {
                postings
                    .entry(trigram)
                    .or_default()
                    .push((l as u16, i as u16));
            }
        }
        Self { list, postings }
    }

    // Upstream's `calculate_distance` for every profile at once, in `list` order.
    fn distances(&self, text_trigrams: &HashMap<Trigram, u32>) -> Vec<u32> {
        let mut dist: Vec<u32> = self
            .list
            .iter()
            .map(|(_, profile)| profile.len() as u32 * MAX_TRIGRAM_DISTANCE)
            .collect();
        for (trigram, &n) in text_trigrams {
            if let Some(posting) = self.postings.get(trigram) {
                for &(l, i) in posting {
                    let found = (n as i32 - i as i32).unsigned_abs();
                    dist[l as usize] = dist[l as usize] - MAX_TRIGRAM_DISTANCE + found;
                }
            }
        }
        let count = text_trigrams.len() as u32;
        for total_dist in &mut dist {
            if MAX_TRIGRAM_DISTANCE > count {
                let delta = MAX_TRIGRAM_DISTANCE - count;
                *total_dist -= delta * MAX_TRIGRAM_DISTANCE;
            }
            *total_dist = (*total_dist).clamp(0, MAX_TOTAL_DISTANCE);
        }
        dist
    }
}

static LATIN_INDEX: LazyLock<ProfileIndex> = LazyLock::new(|| ProfileIndex::new(LATIN_LANGS));
static CYRILLIC_INDEX: LazyLock<ProfileIndex> =
    LazyLock::new(|| ProfileIndex::new(CYRILLIC_LANGS));
static ARABIC_INDEX: LazyLock<ProfileIndex> = LazyLock::new(|| ProfileIndex::new(ARABIC_LANGS));
static DEVANAGARI_INDEX: LazyLock<ProfileIndex> =
    LazyLock::new(|| ProfileIndex::new(DEVANAGARI_LANGS));
static HEBREW_INDEX: LazyLock<ProfileIndex> = LazyLock::new(|| ProfileIndex::new(HEBREW_LANGS));

fn script_to_profile_index(script: MultiLangScript) -> &'static ProfileIndex {
    use MultiLangScript as MLS;
    match script {
        MLS::Latin => &LATIN_INDEX,
        MLS::Cyrillic => &CYRILLIC_INDEX,
        MLS::Arabic => &ARABIC_INDEX,
        MLS::Devanagari => &DEVANAGARI_INDEX,
        MLS::Hebrew => &HEBREW_INDEX,
    }
}

/// tolmach patch: the trigram distances of `text` to every profile of `script`'s languages,
/// in profile order, computed twice: with the inverted index and with upstream's loop over
/// every profile trigram. They must be equal; tolmach's tests check that they are.
#[cfg(feature = "dev")]
pub fn distances_indexed_and_upstream(
    text: &str,
    script: crate::Script,
) -> Option<(Vec<(Lang, u32)>, Vec<(Lang, u32)>)> {
    use crate::scripts::grouping::ScriptLangGroup;
    let ScriptLangGroup::Multi(multi) = script.to_lang_group() else {
        return None;
    };
    let index = script_to_profile_index(multi);
    let lowercase = crate::core::LowercaseText::new(text);
    let TrigramsWithPositions {
        trigram_positions, ..
    } = get_trigrams_with_positions(&lowercase);
    let indexed = index
        .list
        .iter()
        .map(|(lang, _)| *lang)
        .zip(index.distances(&trigram_positions))
        .collect();
    let upstream = script_to_lang_profile_list(multi)
        .iter()
        .map(|&(lang, profile)| (lang, calculate_distance(profile, &trigram_positions)))
        .collect();
    Some((indexed, upstream))
}

#[cfg_attr(not(feature = "dev"), allow(dead_code))]
fn script_to_lang_profile_list(script: MultiLangScript) -> LangProfileList {
    use MultiLangScript as MLS;
    match script {
        MLS::Latin => LATIN_LANGS,
        MLS::Cyrillic => CYRILLIC_LANGS,
        MLS::Arabic => ARABIC_LANGS,
        MLS::Devanagari => DEVANAGARI_LANGS,
        MLS::Hebrew => HEBREW_LANGS,
    }
}

#[inline]
fn calculate_scores_in_profiles(
    text: &Text,
    filter_list: &FilterList,
    index: &ProfileIndex,
) -> RawOutcome {
    let mut lang_distances: Vec<(Lang, u32)> = vec![];

    let TrigramsWithPositions {
        trigram_positions, ..
    } = get_trigrams_with_positions(&text.lowercase());
    let unique_trigrams_count = trigram_positions.len();

    let distances = index.distances(&trigram_positions);
    for (&(lang, _), dist) in index.list.iter().zip(distances) {
        if !filter_list.is_allowed(lang) {
            continue;
        }
        lang_distances.push(((lang), dist));
    }

    // Sort languages by distance
    lang_distances.sort_unstable_by_key(|(_, dist)| *dist);

    let max_dist = unique_trigrams_count as u32 * MAX_TRIGRAM_DISTANCE;

    let raw_scores = lang_distances
        .iter()
        .map(|&(lang, distance)| (lang, distance_to_raw_score(distance, max_dist)))
        .collect();

    RawOutcome {
        trigrams_count: unique_trigrams_count,
        scores: raw_scores,
        raw_distances: lang_distances,
    }
}

// Upstream's distance, kept as the reference the index is checked against.
#[cfg_attr(not(feature = "dev"), allow(dead_code))]
fn calculate_distance(lang_trigrams: LangProfile, text_trigrams: &HashMap<Trigram, u32>) -> u32 {
    let mut total_dist = 0u32;

    for (i, &trigram) in lang_trigrams.iter().enumerate() {
        let dist = match text_trigrams.get(&trigram) {
            Some(&n) => (n as i32 - i as i32).unsigned_abs(),
            None => MAX_TRIGRAM_DISTANCE,
        };
        total_dist += dist;
    }

    let count = text_trigrams.len() as u32;

    if MAX_TRIGRAM_DISTANCE > count {
        let delta = MAX_TRIGRAM_DISTANCE - count;
        total_dist -= delta * MAX_TRIGRAM_DISTANCE;
    }

    total_dist.clamp(0, MAX_TOTAL_DISTANCE)
}

#[inline]
fn distance_to_raw_score(distance: u32, max_distance: u32) -> f64 {
    let similarity = max_distance - distance;
    similarity as f64 / max_distance as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_when_german_is_given() {
        let text = "Die Ordnung muss für immer in diesem Codebase bleiben";
        let iq = InternalQuery {
            text: Text::new(text),
            filter_list: &FilterList::default(),
            multi_lang_script: MultiLangScript::Latin,
        };
        let raw_outcome = raw_detect(&iq);

        assert_eq!(raw_outcome.trigrams_count, 50);

        let &(first_lang, first_score) = raw_outcome.scores.first().unwrap();
        let &(_last_lang, last_score) = raw_outcome.scores.last().unwrap();

        assert_eq!(first_lang, Lang::Deu);

        assert!(first_score >= 0.0);
        assert!(first_score <= 1.0);

        assert!(last_score >= 0.0);
        assert!(last_score <= 1.0);
    }
}
