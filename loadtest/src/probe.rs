//! The bot's resident memory and CPU, sampled from `/proc` while the run goes on.
//!
//! The pid comes from [`crate::target::Target::pid`], so a restart is followed; CPU time is
//! counted per process and summed, so a restart does not reset the total.
//!
//! Also read, where the kernel keeps scheduler statistics: how long the bot's threads waited
//! for a CPU while ready to run, and how often they were switched in, summed over the threads
//! (`/proc/<pid>/task/*/schedstat`). On a machine the bot shares with the harness and the
//! fakes, that wait is part of every latency the harness measures and none of it is the bot's
//! code: the report shows it so a run can tell a slow bot from a busy machine.
//!
//! The same file gives each thread's time on a CPU, summed by the thread's name (tokio's
//! workers, the store's writer, its checkpoints): the report says which of them the CPU went to
//! without a profiler.

use std::collections::BTreeMap;

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

/// One reading.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Seconds since the start of the load (negative during warm-up).
    pub t: f64,
    /// Resident set size, bytes.
    pub rss: u64,
    /// CPU time used since the previous sample, as a share of one core (1.0 = one core busy).
    pub cpu: f64,
    /// Time the bot's threads spent ready to run but waiting for a CPU since the previous
    /// sample, as a share of one core (`None` without scheduler statistics).
    pub cpu_wait: Option<f64>,
    /// Times the bot's threads were switched onto a CPU since the previous sample.
    pub switches: Option<u64>,
    /// CPU used since the previous sample by the bot's threads of each name, as a share of one
    /// core (empty without scheduler statistics).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub threads: BTreeMap<String, f64>,
}

/// Samples every `every` until `stop` fires.
pub async fn run(
    mut pid: watch::Receiver<Option<u32>>,
    start: Instant,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> Vec<Sample> {
    let ticks = clock_ticks();
    let mut out = Vec::new();
    // The previous reading: pid, CPU seconds, scheduler statistics, when.
    let mut last: Option<(u32, f64, Option<Sched>, Instant)> = None;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return out,
        }
        let Some(p) = *pid.borrow_and_update() else {
            continue;
        };
        let (Some(rss), Some(cpu)) = (rss_bytes(p), cpu_seconds(p, ticks)) else {
            continue;
        };
        let sched = scheduler_stats(p);
        let now = Instant::now();
        let (share, cpu_wait, switches, threads) = match &last {
            Some((lp, lc, ls, lt)) if *lp == p => {
                let dt = now.duration_since(*lt).as_secs_f64();
                let per_second = |x: f64| if dt > 0.0 { x / dt } else { 0.0 };
                let then = ls.as_ref();
                let waits = sched.as_ref().zip(then).map(|(s, then)| {
                    let waited = s.waited_ns.saturating_sub(then.waited_ns) as f64 / 1e9;
                    (per_second(waited), s.switches.saturating_sub(then.switches))
                });
                let threads = sched
                    .as_ref()
                    .zip(then)
                    .map(|(s, then)| {
                        s.on_cpu_ns
                            .iter()
                            .map(|(name, &ns)| {
                                let before = then.on_cpu_ns.get(name).copied().unwrap_or(0);
                                let used = ns.saturating_sub(before) as f64 / 1e9;
                                (name.clone(), per_second(used))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (
                    per_second(cpu - lc),
                    waits.map(|w| w.0),
                    waits.map(|w| w.1),
                    threads,
                )
            }
            _ => (0.0, None, None, BTreeMap::new()),
        };
        last = Some((p, cpu, sched, now));
        let t = if now >= start {
            now.duration_since(start).as_secs_f64()
        } else {
            -start.duration_since(now).as_secs_f64()
        };
        out.push(Sample {
            t,
            rss,
            cpu: share,
            cpu_wait,
            switches,
            threads,
        });
    }
}

/// VmRSS from `/proc/<pid>/status`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// utime + stime from `/proc/<pid>/stat`, in seconds.
fn cpu_seconds(pid: u32, ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// Scheduler statistics summed over a process's threads.
#[derive(Clone, Debug, Default, PartialEq)]
struct Sched {
    /// Time spent ready to run, waiting for a CPU, in nanoseconds.
    waited_ns: u64,
    /// Times switched onto a CPU.
    switches: u64,
    /// Time on a CPU, in nanoseconds, by thread name ([`thread_group`]).
    on_cpu_ns: BTreeMap<String, u64>,
}

/// One thread's line of `schedstat`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct TaskSched {
    on_cpu_ns: u64,
    waited_ns: u64,
    switches: u64,
}

/// `/proc/<pid>/task/*/schedstat` (time on a CPU, time waiting for one, times switched in),
/// summed, and the time on a CPU by thread name; `None` when the kernel keeps no such
/// statistics. Threads that ended are not counted.
fn scheduler_stats(pid: u32) -> Option<Sched> {
    let mut total = Sched::default();
    let mut any = false;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(task) = task else { continue };
        let Ok(line) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        if let Some(s) = parse_schedstat(&line) {
            total.waited_ns += s.waited_ns;
            total.switches += s.switches;
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            *total.on_cpu_ns.entry(thread_group(&name)).or_default() += s.on_cpu_ns;
            any = true;
        }
    }
    any.then_some(total)
}

fn parse_schedstat(line: &str) -> Option<TaskSched> {
    let mut fields = line.split_whitespace();
    Some(TaskSched {
        on_cpu_ns: fields.next()?.parse().ok()?,
        waited_ns: fields.next()?.parse().ok()?,
        switches: fields.next()?.parse().ok()?,
    })
}

/// A thread's name without a trailing number, so that numbered threads of one pool count
/// together ("worker-3" and "worker-12" are "worker", "python3.12" is "python"); a name that is
/// only a number is "?".
fn thread_group(comm: &str) -> String {
    let name = comm
        .trim()
        .trim_end_matches(|c: char| c.is_ascii_digit() || "-_.# ".contains(c));
    if name.is_empty() {
        "?".to_string()
    } else {
        name.to_string()
    }
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`), 100 when it cannot be read.
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let me = std::process::id();
        assert!(rss_bytes(me).is_some_and(|r| r > 1024 * 1024));
        assert!(cpu_seconds(me, clock_ticks()).is_some());
    }

    #[test]
    fn reads_the_scheduler_statistics_line() {
        assert_eq!(
            parse_schedstat("2043800000 1069000000 23003\n"),
            Some(TaskSched {
                on_cpu_ns: 2_043_800_000,
                waited_ns: 1_069_000_000,
                switches: 23_003
            })
        );
        assert_eq!(parse_schedstat("12 34"), None);
        assert_eq!(parse_schedstat(""), None);
        // Where the kernel keeps them, this process has some.
        if std::path::Path::new("/proc/self/schedstat").exists() {
            let me = scheduler_stats(std::process::id()).expect("readable");
            assert!(me.switches > 0);
            assert!(me.on_cpu_ns.values().sum::<u64>() > 0);
        }
    }

    #[test]
    fn numbered_threads_count_as_one_pool() {
        assert_eq!(thread_group("tokio-rt-worker\n"), "tokio-rt-worker");
        assert_eq!(thread_group("worker-3"), "worker");
        assert_eq!(thread_group("worker-12"), "worker");
        assert_eq!(thread_group("python3.12"), "python");
        assert_eq!(thread_group("42"), "?");
        assert_eq!(thread_group(""), "?");
    }
}
