//! What a run found: the summary printed at the end, the JSON report and the PNG plot
//! (latency percentiles and throughput over time, chaos events marked).

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::analysis::Outcome;
use crate::chaos::{ChaosStats, Event};
use crate::overhead::InBot;
use crate::probe::Sample;
use crate::scenario::{LimitsKind, Scenario};
use crate::target::Ending;

/// The plots' only font: DejaVu Sans cut down to ASCII (see assets/LICENSE-DejaVu.txt).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");

#[derive(Clone, Debug, Serialize)]
pub struct Resources {
    pub rss_peak_bytes: u64,
    pub rss_last_bytes: u64,
    /// Mean CPU over the load, as a share of one core.
    pub cpu_mean: f64,
    pub cpu_peak: f64,
    /// Mean time the bot's threads spent ready to run but waiting for a CPU, as a share of one
    /// core, over the load (`None` without the kernel's scheduler statistics).
    pub cpu_wait_mean: Option<f64>,
    /// That wait per switch onto a CPU, in microseconds: roughly what each hand-off between
    /// the bot's threads cost in waiting alone.
    pub wait_per_switch_us: Option<f64>,
    /// The bot's CPU time from the start of the load to the last reply, per answered message,
    /// in microseconds: what the peers are compared by at saturation, where the machine's
    /// cores are full and throughput follows the CPU each message costs.
    pub cpu_us_per_message: Option<f64>,
    /// Over the same window, each thread name's share of the bot's CPU, largest first (empty
    /// without the kernel's scheduler statistics).
    pub cpu_by_thread: Vec<(String, f64)>,
}

/// Everything a run produced.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: Scenario,
    pub target_version: String,
    pub outcome: Outcome,
    pub events: Vec<Event>,
    pub chaos: ChaosStats,
    pub resources: Resources,
    /// The runtime's own share of the latency, from tolmach's own histogram (`None` for the
    /// peers, or when the bot restarted during the run); see [`crate::overhead`].
    pub runtime_overhead: Option<InBot>,
    pub samples: Vec<Sample>,
    /// How the process ended.
    pub ending: Ending,
    /// Checks that failed; empty when the run passed.
    pub failures: Vec<String>,
}

impl Resources {
    pub fn of(samples: &[Sample], load_secs: f64) -> Resources {
        let during: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.t >= 0.0 && s.t <= load_secs)
            .collect();
        Resources {
            rss_peak_bytes: samples.iter().map(|s| s.rss).max().unwrap_or(0),
            rss_last_bytes: samples.last().map_or(0, |s| s.rss),
            cpu_mean: mean(during.iter().map(|s| s.cpu)).unwrap_or(0.0),
            cpu_peak: during.iter().map(|s| s.cpu).fold(0.0, f64::max),
            cpu_wait_mean: mean(during.iter().filter_map(|s| s.cpu_wait)),
            wait_per_switch_us: wait_per_switch_us(&during),
            cpu_us_per_message: None,
            cpu_by_thread: Vec::new(),
        }
    }

    /// Sets [`Resources::cpu_us_per_message`] for `answered` messages, the last answered
    /// `until_s` seconds after the start of the load.
    pub fn per_message(mut self, samples: &[Sample], until_s: f64, answered: usize) -> Self {
        self.cpu_us_per_message =
            (answered > 0).then(|| cpu_seconds(samples, until_s) * 1e6 / answered as f64);
        self.cpu_by_thread = cpu_by_thread(samples, until_s);
        self
    }
}

/// Each thread name's share of the CPU its threads used between the start of the load and
/// `until_s` (counted as [`cpu_seconds`] counts), largest first.
fn cpu_by_thread(samples: &[Sample], until_s: f64) -> Vec<(String, f64)> {
    let mut used: BTreeMap<&str, f64> = BTreeMap::new();
    for pair in samples.windows(2) {
        let seconds = in_window(pair, until_s);
        for (name, share) in &pair[1].threads {
            *used.entry(name).or_default() += share * seconds;
        }
    }
    let total: f64 = used.values().sum();
    if total <= 0.0 {
        return Vec::new();
    }
    let mut shares: Vec<(String, f64)> = used
        .into_iter()
        .map(|(name, s)| (name.to_string(), s / total))
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    shares
}

/// CPU seconds the bot used between the start of the load and `until_s`: each sample's share
/// of a core over the time since the sample before it, counted for the part of that interval
/// inside the window.
fn cpu_seconds(samples: &[Sample], until_s: f64) -> f64 {
    samples
        .windows(2)
        .map(|pair| pair[1].cpu * in_window(pair, until_s))
        .sum()
}

/// Seconds of the interval between two samples that fall between the start of the load and
/// `until_s` (the later sample's shares cover that interval).
fn in_window(pair: &[Sample], until_s: f64) -> f64 {
    let (from, to) = (pair[0].t.max(0.0), pair[1].t.min(until_s));
    (to - from).max(0.0)
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Σ wait ÷ Σ switches over the samples that have both; each sample's wait is its share of a
/// core times the time since the sample before it.
fn wait_per_switch_us(samples: &[&Sample]) -> Option<f64> {
    let (mut waited_s, mut switches) = (0.0, 0u64);
    for pair in samples.windows(2) {
        let (before, now) = (pair[0], pair[1]);
        if let (Some(wait), Some(n)) = (now.cpu_wait, now.switches) {
            waited_s += wait * (now.t - before.t);
            switches += n;
        }
    }
    (switches > 0).then(|| waited_s * 1e6 / switches as f64)
}

/// The checks every run must pass: nothing lost, nothing repeated (but for replies in flight
/// at a SIGKILL, which Telegram's API cannot tell apart), order kept, and with real limits no
/// 429. Returns what failed.
pub fn verdict(s: &Scenario, o: &Outcome, ending: Ending) -> Vec<String> {
    let mut failed = Vec::new();
    if o.lost > 0 {
        failed.push(format!(
            "{} of {} messages got no reply, e.g. {:?}",
            o.lost, o.posted, o.lost_examples
        ));
    }
    let unexplained = o.duplicated - o.duplicated_in_flight;
    if unexplained > 0 {
        failed.push(format!(
            "{unexplained} replies repeated without a crash to explain them"
        ));
    }
    if o.out_of_order > 0 {
        failed.push(format!(
            "{} replies out of order in their chat",
            o.out_of_order
        ));
    }
    if s.limits == LimitsKind::Real && o.flood_refusals > 0 {
        failed.push(format!(
            "{} sends refused with 429 under Telegram's limits",
            o.flood_refusals
        ));
    }
    if o.stray_replies > 0 {
        failed.push(format!(
            "{} replies quote no message the load posted",
            o.stray_replies
        ));
    }
    failed.extend(ending.problem());
    failed
}

impl Report {
    /// The human summary.
    pub fn summary(&self) -> String {
        let o = &self.outcome;
        let s = &self.scenario;
        let mut out = String::new();
        let mut line = |l: String| {
            out.push_str(&l);
            out.push('\n');
        };
        line(format!(
            "{} — {} on {:?}: {} users in {} chats, {:.0}/s for {}, mix {:?}, limits {:?}, provider latency {:?}",
            s.name,
            s.target.as_str(),
            s.platform,
            s.users,
            s.chats,
            s.rate,
            humantime::format_duration(s.duration),
            s.mix,
            s.limits,
            s.provider_latency,
        ));
        line(format!(
            "messages: {} posted, {} answered, {} lost, {} repeated ({} in flight at a SIGKILL), {} out of order, {} extra parts, {} stray, {} refused with 429",
            o.posted,
            o.answered,
            o.lost,
            o.duplicated,
            o.duplicated_in_flight,
            o.out_of_order,
            o.reply_parts,
            o.stray_replies,
            o.flood_refusals
        ));
        line(format!("throughput: {:.0} answered/s", o.throughput));
        let spread = |name: &str, x: &crate::analysis::Spread| {
            format!(
                "{name}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms (n = {})",
                x.p50, x.p90, x.p99, x.p999, x.max, x.count
            )
        };
        line(spread("latency (offered → reply)", &o.latency));
        line(spread("runtime-added (translations)", &o.runtime_added));
        line(spread("pick-up (posted → offered)", &o.pickup));
        if let Some(b) = &self.runtime_overhead {
            let stages: Vec<String> = b
                .stage_mean_ms
                .iter()
                .zip(&b.stage_p99_le_ms)
                .map(|((name, mean), (_, p99))| format!("{name} {mean:.3} / ≤ {p99} ms"))
                .collect();
            line(format!(
                "runtime's own time (the bot's histogram, n = {}): mean {:.3} ms, p50 ≤ {} ms, p90 ≤ {} ms, p99 ≤ {} ms, p99.9 ≤ {} ms; {:.2}% within 1 ms",
                b.count,
                b.mean_ms,
                b.p50_le_ms,
                b.p90_le_ms,
                b.p99_le_ms,
                b.p999_le_ms,
                b.within_1ms * 100.0
            ));
            line(format!("  by stage, mean / p99: {}", stages.join(", ")));
        }
        let mut kinds: Vec<_> = o.latency_by_kind.iter().collect();
        kinds.sort_by(|a, b| a.0.cmp(b.0));
        for (k, x) in kinds {
            line(format!(
                "  {k:<10} n {:>6}  p50 {:>8.2} ms  p99 {:>8.2} ms",
                x.count, x.p50, x.p99
            ));
        }
        let r = &self.resources;
        line(format!(
            "bot: RSS peak {:.1} MiB, at the end {:.1} MiB; CPU mean {:.0}% of a core, peak {:.0}%",
            r.rss_peak_bytes as f64 / 1_048_576.0,
            r.rss_last_bytes as f64 / 1_048_576.0,
            r.cpu_mean * 100.0,
            r.cpu_peak * 100.0
        ));
        if let Some(per) = r.cpu_us_per_message {
            line(format!(
                "bot: {per:.0} µs of CPU per answered message (from the start of the load to the last reply)"
            ));
        }
        if !r.cpu_by_thread.is_empty() {
            let shares: Vec<String> = r
                .cpu_by_thread
                .iter()
                .filter(|(_, share)| *share >= 0.005)
                .map(|(name, share)| format!("{name} {:.0}%", share * 100.0))
                .collect();
            line(format!("bot: its CPU by thread: {}", shares.join(", ")));
        }
        if let (Some(wait), Some(per)) = (r.cpu_wait_mean, r.wait_per_switch_us) {
            line(format!(
                "bot: ready but waiting for a CPU {:.0}% of a core, {per:.0} µs per switch onto one (the machine's share of the latency)",
                wait * 100.0
            ));
        }
        let c = &self.chaos;
        if !s.chaos.is_calm() {
            line(format!(
                "chaos: {} actors killed ({} already gone, {} admin errors), {} SIGKILLs, {} events",
                c.kills,
                c.kills_missed,
                c.admin_errors,
                c.sigkills,
                self.events.len()
            ));
        }
        if !o.recoveries.is_empty() {
            let serving: Vec<f64> = o.recoveries.iter().filter_map(|r| r.serving_ms).collect();
            let worst = serving.iter().copied().fold(0.0, f64::max);
            line(format!(
                "restarts: {}; serving again (restart → first reply) worst {:.0} ms, mean {:.0} ms",
                o.recoveries.len(),
                worst,
                serving.iter().sum::<f64>() / serving.len().max(1) as f64
            ));
        }
        if self.failures.is_empty() {
            line("PASS".to_owned());
        } else {
            for f in &self.failures {
                line(format!("FAIL: {f}"));
            }
        }
        out
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json)
    }

    /// Latency percentiles per second (log scale) above, posted and answered per second
    /// below; a vertical line for every chaos event (kills in light grey, crashes in red,
    /// provider faults in orange, platform drops in blue).
    pub fn write_png(&self, path: &Path) -> Result<(), String> {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| "cannot load the plot font".to_owned())?;
        let root = BitMapBackend::new(path, (1280, 800)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (upper, lower) = root.split_vertically(480);
        let secs = &self.outcome.seconds;
        let x_max = secs.len().max(1) as f64;
        let y_max = secs.iter().map(|s| s.max_ms).fold(1.0, f64::max).max(1.0) * 1.5;
        let title = format!(
            "{} — {} on {:?}, {:.0}/s: latency offered → reply",
            self.scenario.name,
            self.scenario.target.as_str(),
            self.scenario.platform,
            self.scenario.rate
        );
        let mut chart = ChartBuilder::on(&upper)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, (0.05..y_max).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("seconds since the load started")
            .y_desc("ms (log)")
            .draw()
            .map_err(|e| e.to_string())?;
        self.draw_events(&mut chart, 0.05, y_max)?;
        let floor = |v: f64| v.max(0.05);
        let answered: Vec<&crate::analysis::Second> =
            secs.iter().filter(|s| s.max_ms > 0.0).collect();
        let at = |s: &crate::analysis::Second, v: f64| (s.t as f64 + 0.5, v);
        draw_lines(
            &mut chart,
            vec![
                (
                    "p50",
                    BLUE,
                    answered.iter().map(|s| at(s, floor(s.p50_ms))).collect(),
                ),
                (
                    "p99",
                    RED,
                    answered.iter().map(|s| at(s, floor(s.p99_ms))).collect(),
                ),
                (
                    "max",
                    RGBColor(120, 120, 120),
                    answered.iter().map(|s| at(s, floor(s.max_ms))).collect(),
                ),
            ],
        )?;

        let n_max = secs
            .iter()
            .map(|s| s.posted.max(s.answered))
            .max()
            .unwrap_or(1)
            .max(1) as f64
            * 1.2;
        let mut chart = ChartBuilder::on(&lower)
            .caption("messages per second", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, 0.0..n_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("seconds since the load started")
            .draw()
            .map_err(|e| e.to_string())?;
        self.draw_events(&mut chart, 0.0, n_max)?;
        draw_lines(
            &mut chart,
            vec![
                (
                    "posted",
                    GREEN,
                    secs.iter().map(|s| at(s, s.posted as f64)).collect(),
                ),
                (
                    "answered",
                    MAGENTA,
                    secs.iter().map(|s| at(s, s.answered as f64)).collect(),
                ),
            ],
        )?;
        root.present().map_err(|e| e.to_string())
    }

    fn draw_events<X, Y>(
        &self,
        chart: &mut ChartContext<'_, BitMapBackend<'_>, Cartesian2d<X, Y>>,
        y0: f64,
        y1: f64,
    ) -> Result<(), String>
    where
        X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
        Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    {
        // Kills first: they are many, and the rarer events must stay visible on top of them.
        let (kills, others): (Vec<&Event>, Vec<&Event>) =
            self.events.iter().partition(|e| e.kind == "kill");
        for e in kills.into_iter().chain(others) {
            let color = match e.kind.as_str() {
                "kill" => RGBColor(225, 225, 225),
                "sigkill" | "restart" => RGBColor(220, 0, 0),
                "provider-fail" | "provider-stall" | "provider-ok" => RGBColor(255, 140, 0),
                _ => RGBColor(0, 90, 255),
            };
            chart
                .draw_series(LineSeries::new(vec![(e.t, y0), (e.t, y1)], color))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// One line of a chart: its legend, colour and points.
type Series<'s> = (&'s str, RGBColor, Vec<(f64, f64)>);

/// Draws one line per series, with a legend.
fn draw_lines<'a, X, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    series: Vec<Series<'_>>,
) -> Result<(), String>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    for (name, color, points) in series {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// Side by side: throughput and latency of each bot, as ratios to the first (tolmach).
pub fn compare(reports: &[Report]) -> String {
    let Some(base) = reports.first() else {
        return String::new();
    };
    let b = &base.outcome;
    let mut out = format!(
        "{:<14} {:>11} {:>9} {:>9} {:>12} {:>6} {:>9} {:>8} {:>12} {:>14}\n",
        "bot",
        "answered/s",
        "p50 ms",
        "p99 ms",
        "pick-up p99",
        "lost",
        "repeated",
        "RSS MiB",
        "CPU µs/msg",
        "tolmach ÷ bot"
    );
    for r in reports {
        let o = &r.outcome;
        let cpu = r
            .resources
            .cpu_us_per_message
            .map_or_else(|| "-".to_owned(), |us| format!("{us:.0}"));
        out.push_str(&format!(
            "{:<14} {:>11.0} {:>9.2} {:>9.2} {:>12.2} {:>6} {:>9} {:>8.1} {:>12} {:>14.2}\n",
            r.scenario.target.as_str(),
            o.throughput,
            o.latency.p50,
            o.latency.p99,
            o.pickup.p99,
            o.lost,
            o.duplicated,
            r.resources.rss_peak_bytes as f64 / 1_048_576.0,
            cpu,
            ratio(b.throughput, o.throughput),
        ));
    }
    out
}

fn ratio(tolmach: f64, bot: f64) -> f64 {
    if bot > 0.0 {
        tolmach / bot
    } else {
        f64::INFINITY
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Several rounds of the same comparison (each round runs every bot once, in the same order):
/// per bot, the answered/s and CPU per message of each round and their medians, and tolmach's
/// ratio to it round by round. A round's bots run minutes apart at most, so the ratio within a
/// round is steadier than any one figure across rounds.
pub fn compare_rounds(rounds: &[Vec<Report>]) -> String {
    let Some(first) = rounds.first() else {
        return String::new();
    };
    let list = |values: &[f64], digits: usize| {
        let each: Vec<String> = values.iter().map(|v| format!("{v:.digits$}")).collect();
        let mid =
            median(values.to_vec()).map_or_else(|| "-".to_owned(), |m| format!("{m:.digits$}"));
        format!("{} (median {mid})", each.join(" / "))
    };
    let mut out = format!("{} rounds:\n", rounds.len());
    for (i, r) in first.iter().enumerate() {
        fn of(round: &[Report], i: usize) -> Option<&Outcome> {
            round.get(i).map(|r| &r.outcome)
        }
        let answered: Vec<f64> = rounds
            .iter()
            .filter_map(|round| of(round, i))
            .map(|o| o.throughput)
            .collect();
        let cpu: Vec<f64> = rounds
            .iter()
            .filter_map(|round| round.get(i)?.resources.cpu_us_per_message)
            .collect();
        out.push_str(&format!(
            "{}: answered/s {}; CPU µs/msg {}\n",
            r.scenario.target.as_str(),
            list(&answered, 0),
            list(&cpu, 0)
        ));
        if i > 0 {
            let ratios: Vec<f64> = rounds
                .iter()
                .filter_map(|round| {
                    Some(ratio(
                        round.first()?.outcome.throughput,
                        of(round, i)?.throughput,
                    ))
                })
                .collect();
            out.push_str(&format!(
                "  tolmach ÷ {}: {}\n",
                r.scenario.target.as_str(),
                list(&ratios, 2)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, cpu_wait: Option<f64>, switches: Option<u64>) -> Sample {
        Sample {
            t,
            rss: 1,
            cpu: 0.5,
            cpu_wait,
            switches,
            threads: BTreeMap::new(),
        }
    }

    #[test]
    fn the_wait_for_a_cpu_is_averaged_over_the_load_and_divided_by_the_switches() {
        let samples = [
            sample(-1.0, Some(0.9), Some(1_000)), // warm-up: left out
            sample(0.0, None, None),              // first reading of a (re)started bot
            sample(0.5, Some(0.2), Some(1_000)),  // 100 ms waited over 1,000 switches
            sample(1.0, Some(0.4), Some(3_000)),  // 200 ms over 3,000
            sample(9.0, Some(0.9), Some(1)),      // after the load: left out
        ];
        let r = Resources::of(&samples, 1.0);
        let wait = r.cpu_wait_mean.expect("read");
        assert!((wait - 0.3).abs() < 1e-9, "{wait}");
        let per = r.wait_per_switch_us.expect("read");
        assert!((per - 75.0).abs() < 1e-6, "300 ms / 4,000 switches: {per}");
    }

    #[test]
    fn cpu_per_message_counts_the_cpu_from_the_load_to_the_last_reply() {
        let samples = [
            sample(-0.5, None, None), // warm-up: left out
            sample(0.0, None, None),  // 0.5 of a core over the warm-up's last interval: left out
            sample(1.0, None, None),  // 0.5 s
            sample(2.0, None, None),  // half of it before the last reply at 1.5 s: 0.25 s
            sample(3.0, None, None),  // after it: left out
        ];
        let r = Resources::of(&samples, 1.0).per_message(&samples, 1.5, 1_000);
        let per = r.cpu_us_per_message.expect("answered");
        assert!(
            (per - 750.0).abs() < 1e-6,
            "0.75 s over 1,000 messages: {per}"
        );
        let none = Resources::of(&samples, 1.0).per_message(&samples, 1.5, 0);
        assert_eq!(none.cpu_us_per_message, None);
    }

    #[test]
    fn the_cpu_by_thread_is_each_names_share_over_the_same_window() {
        let with = |t: f64, threads: &[(&str, f64)]| Sample {
            threads: threads.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
            ..sample(t, None, None)
        };
        let samples = [
            with(-0.5, &[("store", 9.0)]),                      // warm-up: left out
            with(0.0, &[("store", 9.0)]),                       // its interval ends at the start
            with(1.0, &[("worker", 0.6), ("store", 0.2)]),      // 0.6 s and 0.2 s
            with(2.0, &[("worker", 0.4), ("checkpoint", 0.4)]), // half counted: 0.2 s each
            with(3.0, &[("checkpoint", 5.0)]),                  // after the last reply: left out
        ];
        let r = Resources::of(&samples, 1.0).per_message(&samples, 1.5, 1_000);
        let names: Vec<&str> = r.cpu_by_thread.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["worker", "checkpoint", "store"],
            "largest first, ties by name"
        );
        let share = |name: &str| r.cpu_by_thread.iter().find(|(n, _)| n == name).map(|x| x.1);
        assert!((share("worker").unwrap_or(0.0) - 0.8 / 1.2).abs() < 1e-9);
        assert!((share("store").unwrap_or(0.0) - 0.2 / 1.2).abs() < 1e-9);
        let without = [sample(0.0, None, None), sample(1.0, None, None)];
        let none = Resources::of(&without, 1.0).per_message(&without, 1.0, 10);
        assert!(none.cpu_by_thread.is_empty());
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn without_scheduler_statistics_there_is_no_wait_figure() {
        let samples = [sample(0.0, None, None), sample(0.5, None, None)];
        let r = Resources::of(&samples, 1.0);
        assert_eq!(r.cpu_wait_mean, None);
        assert_eq!(r.wait_per_switch_us, None);
    }
}
