//! Replies to the admins' chat commands, `/status` and `/breakers`: the operator's view from a
//! chat, in English (operators read the runbook in English too). Non-admins get the same answer
//! as for any unknown command.

use std::fmt::Write;
use std::time::Duration;

use crate::resilience::breaker::CircuitState;
use crate::resilience::faults::Fault;
use crate::supervision::{NodeStatus, TreeNode};
use crate::telemetry::health::Report;

/// One provider as `/breakers` shows it.
pub struct BreakerLine {
    pub provider: String,
    pub state: CircuitState,
    pub fault: Option<Fault>,
}

fn icon(ok: bool) -> &'static str {
    if ok { "✅" } else { "❌" }
}

fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

/// `/status`: readiness with its checks, the supervision tree in numbers, the backlog.
pub fn status(ready: &Report, tree: &TreeNode, in_flight: usize, uptime: Duration) -> String {
    let mut out = format!(
        "tolmach {} · up {}\n{} {}\n",
        env!("CARGO_PKG_VERSION"),
        duration(uptime),
        icon(ready.ok()),
        if ready.ok() { "ready" } else { "not ready" }
    );
    for (name, check) in &ready.checks {
        let _ = writeln!(out, "{} {name}: {}", icon(check.ok), check.detail);
    }
    let nodes = tree.walk();
    let running = nodes
        .iter()
        .filter(|(_, n)| n.status == NodeStatus::Running)
        .count();
    let mut restarts: Vec<(String, u64)> = nodes
        .iter()
        .filter(|(_, n)| n.restarts > 0)
        .map(|(path, n)| (path.clone(), n.restarts))
        .collect();
    restarts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: u64 = restarts.iter().map(|(_, n)| n).sum();
    let _ = writeln!(out, "actors: {running} running, {total} restarts");
    for (path, n) in restarts.iter().take(5) {
        let _ = writeln!(out, "  {path}: {n}");
    }
    let _ = write!(out, "messages in flight: {in_flight}");
    out
}

/// `/breakers`: each provider's circuit, and faults injected through the admin API.
pub fn breakers(lines: &[BreakerLine]) -> String {
    if lines.is_empty() {
        return "no provider configured".into();
    }
    let mut out = String::new();
    for l in lines {
        let mark = match l.state {
            CircuitState::Closed => "🟢",
            CircuitState::HalfOpen => "🟡",
            CircuitState::Open => "🔴",
        };
        let _ = write!(out, "{mark} {}: {}", l.provider, l.state.as_str());
        if let Some(f) = &l.fault {
            let v = f.view();
            let _ = write!(
                out,
                " (injected faults: {:.0}% errors, +{} ms, {:.0}s left)",
                v.error_rate * 100.0,
                v.latency_ms,
                v.remaining_s
            );
        }
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::supervision::ActorKind;
    use crate::telemetry::health::Check;

    fn node(id: &str, restarts: u64, children: Vec<TreeNode>) -> TreeNode {
        TreeNode {
            id: id.into(),
            kind: ActorKind::Other,
            status: NodeStatus::Running,
            restarts,
            children,
            cell: None,
        }
    }

    #[test]
    fn status_names_failing_checks_and_restarts() {
        let report = Report {
            status: "failing",
            checks: BTreeMap::from([(
                "platform:telegram".to_string(),
                Check {
                    ok: false,
                    detail: "getUpdates failed: cannot connect".into(),
                },
            )]),
        };
        let tree = node(
            "root",
            0,
            vec![node("providers", 0, vec![node("groq", 3, vec![])])],
        );
        let text = status(&report, &tree, 2, Duration::from_secs(3700));
        assert!(text.contains("not ready"), "{text}");
        assert!(
            text.contains("❌ platform:telegram: getUpdates failed"),
            "{text}"
        );
        assert!(text.contains("3 restarts"), "{text}");
        assert!(text.contains("root/providers/groq: 3"), "{text}");
        assert!(text.contains("up 1h 1m"), "{text}");
        assert!(text.ends_with("messages in flight: 2"), "{text}");
    }

    #[test]
    fn breakers_show_state_and_faults() {
        let text = breakers(&[
            BreakerLine {
                provider: "groq".into(),
                state: CircuitState::Open,
                fault: None,
            },
            BreakerLine {
                provider: "demo".into(),
                state: CircuitState::Closed,
                fault: None,
            },
        ]);
        assert_eq!(text, "🔴 groq: open\n🟢 demo: closed");
    }
}
