//! The runtime's own share of the latency, as tolmach itself measures it.
//!
//! The fake sees end-to-end latency: the bot's work plus the HTTP round trips to the fakes, the
//! kernel and the scheduling of three processes on the same cores. tolmach also measures the
//! part that is its own (`tolmach_runtime_overhead_seconds`: from reading a message off the
//! platform to its reply's send starting, less the waits on providers and send limits; and the
//! same by stage in `tolmach_runtime_stage_seconds`). The harness scrapes the bot's
//! `/metrics` right after the warm-up and again after the drain, and reports the difference:
//! the run's messages only. Prometheus histograms keep bucket counts, not samples, so a
//! percentile is reported as the bucket bound it falls under ("p99 ≤ 1 ms"), and the share of
//! replies within 1 ms is exact at that bound.
//!
//! A restart during the run starts the bot's counters over; the difference then means nothing
//! and no figure is reported.

use serde::Serialize;

/// The overhead histogram and its per-stage breakdown.
const TOTAL: &str = "tolmach_runtime_overhead_seconds";
const STAGES: &str = "tolmach_runtime_stage_seconds";

/// One histogram: cumulative counts per upper bound (`le`, seconds; `+Inf` last), and the sum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: f64,
}

impl Histogram {
    /// The series of `name` whose labels include every pair of `labels`, summed over the rest
    /// (one platform per run, but nothing here relies on it). `None` if there is none.
    pub fn parse(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<Histogram> {
        let mut h = Histogram::default();
        let mut seen = false;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (metric, series_labels) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let pairs: Vec<(&str, &str)> = series_labels
                .split(',')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k, v.trim_matches('"')))
                .collect();
            if !labels.iter().all(|want| pairs.contains(want)) {
                continue;
            }
            match metric.strip_prefix(name) {
                Some("_bucket") => {
                    let Some(le) = pairs.iter().find(|(k, _)| *k == "le").map(|(_, v)| *v) else {
                        continue;
                    };
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        match le.parse() {
                            Ok(le) => le,
                            Err(_) => continue,
                        }
                    };
                    match h.buckets.iter_mut().find(|(b, _)| *b == le) {
                        Some((_, n)) => *n += value,
                        None => h.buckets.push((le, value)),
                    }
                }
                Some("_sum") => h.sum += value,
                Some("_count") => h.count += value,
                _ => continue,
            }
            seen = true;
        }
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        seen.then_some(h)
    }

    /// `self` minus an earlier scrape of the same histogram; `None` if any count went down (the
    /// process restarted in between) or the buckets differ.
    pub fn since(&self, earlier: &Histogram) -> Option<Histogram> {
        if earlier.buckets.len() != self.buckets.len() || earlier.count > self.count {
            return None;
        }
        let mut buckets = Vec::with_capacity(self.buckets.len());
        for ((le, now), (le0, then)) in self.buckets.iter().zip(&earlier.buckets) {
            if le != le0 || then > now {
                return None;
            }
            buckets.push((*le, now - then));
        }
        Some(Histogram {
            buckets,
            sum: self.sum - earlier.sum,
            count: self.count - earlier.count,
        })
    }

    /// The smallest bucket bound at or under which a fraction `q` of the observations lie, in
    /// milliseconds (`None` when empty; infinite when beyond the last finite bound).
    pub fn bound_ms(&self, q: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        let want = q * self.count;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= want - 1e-9)
            .map(|(le, _)| le * 1e3)
    }

    /// The fraction of observations at or under `seconds`, if that is a bucket bound.
    pub fn share_within(&self, seconds: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        self.buckets
            .iter()
            .find(|(le, _)| (le - seconds).abs() < 1e-12)
            .map(|(_, n)| n / self.count)
    }

    pub fn mean_ms(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count * 1e3)
    }
}

/// What a scrape of the bot's exposition holds of the overhead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    total: Option<Histogram>,
    stages: Vec<(&'static str, Option<Histogram>)>,
}

/// The stages, in the order a message goes through them.
pub const STAGE_NAMES: [&str; 4] = ["intake", "queue", "handling", "dispatch"];

impl Scrape {
    pub fn of(text: &str) -> Scrape {
        Scrape {
            total: Histogram::parse(text, TOTAL, &[]),
            stages: STAGE_NAMES
                .iter()
                .map(|s| (*s, Histogram::parse(text, STAGES, &[("stage", s)])))
                .collect(),
        }
    }
}

/// The run's figures (see the module docs). Milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InBot {
    /// Replies measured.
    pub count: u64,
    pub mean_ms: f64,
    /// Bucket bounds the percentiles fall under.
    pub p50_le_ms: f64,
    pub p90_le_ms: f64,
    pub p99_le_ms: f64,
    pub p999_le_ms: f64,
    /// The fraction of replies whose overhead was at most 1 ms.
    pub within_1ms: f64,
    /// Mean per stage, in [`STAGE_NAMES`] order.
    pub stage_mean_ms: Vec<(String, f64)>,
    /// The bound each stage's p99 falls under.
    pub stage_p99_le_ms: Vec<(String, f64)>,
}

impl InBot {
    /// The run's figures from the scrapes `before` and `after` it; `None` if the bot does not
    /// export them, measured nothing, or restarted in between.
    pub fn between(before: &Scrape, after: &Scrape) -> Option<InBot> {
        // Nothing recorded yet before the run is the same as zero.
        let diff = |now: &Option<Histogram>, then: &Option<Histogram>| match then {
            Some(then) => now.as_ref()?.since(then),
            None => now.clone(),
        };
        let total = diff(&after.total, &before.total)?;
        if total.count < 1.0 {
            return None;
        }
        let mut stage_mean_ms = Vec::new();
        let mut stage_p99_le_ms = Vec::new();
        for ((name, now), (_, then)) in after.stages.iter().zip(&before.stages) {
            let h = diff(now, then)?;
            stage_mean_ms.push(((*name).to_owned(), h.mean_ms()?));
            stage_p99_le_ms.push(((*name).to_owned(), h.bound_ms(0.99)?));
        }
        Some(InBot {
            count: total.count as u64,
            mean_ms: total.mean_ms()?,
            p50_le_ms: total.bound_ms(0.50)?,
            p90_le_ms: total.bound_ms(0.90)?,
            p99_le_ms: total.bound_ms(0.99)?,
            p999_le_ms: total.bound_ms(0.999)?,
            within_1ms: total.share_within(0.001)?,
            stage_mean_ms,
            stage_p99_le_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition(total: [u64; 4], sum: f64, handling: [u64; 4]) -> String {
        let mut text = String::from("# TYPE tolmach_runtime_overhead_seconds histogram\n");
        let les = ["0.0005", "0.001", "0.0025", "+Inf"];
        for (le, n) in les.iter().zip(total) {
            text += &format!(
                "tolmach_runtime_overhead_seconds_bucket{{platform=\"telegram\",le=\"{le}\"}} {n}\n"
            );
        }
        text += &format!("tolmach_runtime_overhead_seconds_sum{{platform=\"telegram\"}} {sum}\n");
        text += &format!(
            "tolmach_runtime_overhead_seconds_count{{platform=\"telegram\"}} {}\n",
            total[3]
        );
        for stage in STAGE_NAMES {
            let counts = if stage == "handling" {
                handling
            } else {
                [total[3]; 4]
            };
            for (le, n) in les.iter().zip(counts) {
                text += &format!(
                    "tolmach_runtime_stage_seconds_bucket{{platform=\"telegram\",stage=\"{stage}\",le=\"{le}\"}} {n}\n"
                );
            }
            text += &format!(
                "tolmach_runtime_stage_seconds_sum{{platform=\"telegram\",stage=\"{stage}\"}} {}\n",
                sum / 4.0
            );
            text += &format!(
                "tolmach_runtime_stage_seconds_count{{platform=\"telegram\",stage=\"{stage}\"}} {}\n",
                counts[3]
            );
        }
        text
    }

    #[test]
    fn the_run_is_the_difference_of_two_scrapes() {
        // Before the run: the warm-up's one slow reply.
        let before = Scrape::of(&exposition([0, 0, 0, 1], 0.01, [0, 0, 0, 1]));
        // After it: 1,000 more, 900 within 0.5 ms, 95 more within 1 ms, 4 within 2.5 ms.
        let after = Scrape::of(&exposition(
            [900, 995, 999, 1001],
            0.51,
            [990, 1000, 1001, 1001],
        ));
        let run = InBot::between(&before, &after).expect("figures");
        assert_eq!(run.count, 1000);
        assert!((run.mean_ms - 0.5).abs() < 1e-9, "{run:?}");
        assert_eq!(run.p50_le_ms, 0.5);
        assert_eq!(run.p90_le_ms, 0.5);
        assert_eq!(run.p99_le_ms, 1.0);
        assert_eq!(run.p999_le_ms, 2.5);
        assert!((run.within_1ms - 0.995).abs() < 1e-9);
        assert_eq!(run.stage_p99_le_ms[2], ("handling".to_owned(), 0.5));
        assert_eq!(run.stage_p99_le_ms[0], ("intake".to_owned(), 0.5));
    }

    #[test]
    fn a_restart_in_between_gives_no_figures() {
        let before = Scrape::of(&exposition([10, 20, 30, 40], 0.05, [10, 20, 30, 40]));
        let after = Scrape::of(&exposition([5, 6, 7, 8], 0.01, [5, 6, 7, 8]));
        assert_eq!(InBot::between(&before, &after), None);
    }

    #[test]
    fn a_bot_without_the_metric_gives_no_figures() {
        let text = "# TYPE x counter\nx_total 3\n";
        assert_eq!(InBot::between(&Scrape::of(text), &Scrape::of(text)), None);
        assert_eq!(Histogram::parse(text, TOTAL, &[]), None);
    }
}
