//! The bot's resident memory and CPU, sampled from `/proc` while the run goes on.
//!
//! The pid comes from [`crate::target::Target::pid`], so a restart is followed; CPU time is
//! counted per process and summed, so a restart does not reset the total.

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
    let mut last: Option<(u32, f64, Instant)> = None;
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
        let now = Instant::now();
        let share = match last {
            Some((lp, lc, lt)) if lp == p => {
                let dt = now.duration_since(lt).as_secs_f64();
                if dt > 0.0 { (cpu - lc) / dt } else { 0.0 }
            }
            _ => 0.0,
        };
        last = Some((p, cpu, now));
        let t = if now >= start {
            now.duration_since(start).as_secs_f64()
        } else {
            -start.duration_since(now).as_secs_f64()
        };
        out.push(Sample { t, rss, cpu: share });
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
}
