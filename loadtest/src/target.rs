//! The bot under test as a child process: tolmach or a peer, started, SIGKILLed and
//! restarted, and (for tolmach) steered through its admin API.
//!
//! Every start gets its own log file in the run's work directory (`<target>-<n>.log`), so a
//! failed run can be read afterwards.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, watch};

use crate::platform::Fake;
use crate::scenario::{LimitsKind, PlatformKind, Scenario, TargetKind};

/// The admin token the harness gives tolmach (a load test's, not a secret).
const ADMIN_TOKEN: &str = "loadtest-admin-token-0123456789";

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0} not found; build it first (cargo build --release --bin {1}) or pass its path")]
    Missing(PathBuf, &'static str),
    #[error("cannot start {0}: {1}")]
    Spawn(PathBuf, std::io::Error),
    #[error("no free port for the admin API: {0}")]
    Port(std::io::Error),
    #[error("the python peer's setup failed: {0}")]
    PythonSetup(String),
    #[error("{0} is not running")]
    NotRunning(&'static str),
    #[error("admin API: {0}")]
    Admin(String),
}

/// How to start the program, every time the same way.
struct Launch {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log_dir: PathBuf,
}

/// A running (or restarting) bot process.
pub struct Target {
    kind: TargetKind,
    launch: Launch,
    child: Mutex<Option<Child>>,
    pid: watch::Sender<Option<u32>>,
    starts: StdMutex<u32>,
    admin: Option<Admin>,
    /// tolmach's Prometheus exposition.
    metrics_url: Option<String>,
}

/// Where the workspace's binaries are: next to this program (`target/release/` or
/// `target/debug/`).
pub fn sibling_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let mut dir = exe.parent()?.to_path_buf();
    // Test binaries live one level down, in `deps/`.
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    path.exists().then_some(path)
}

fn free_port() -> Result<u16, TargetError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(TargetError::Port)?;
    Ok(l.local_addr().map_err(TargetError::Port)?.port())
}

impl Target {
    /// Prepares the target of `s` against `fake` and the fake provider at `provider_url`
    /// (OpenAI-compatible base URL); nothing runs until [`spawn`](Self::spawn).
    pub fn new(
        s: &Scenario,
        fake: &Fake,
        provider_url: &str,
        work: &Path,
    ) -> Result<Target, TargetError> {
        let mut env: Vec<(String, String)> = fake
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        env.push(("NO_PROXY".into(), "127.0.0.1,localhost".into()));
        let (program, args, admin) = match s.target {
            TargetKind::Tolmach => {
                let program = match &s.tolmach_bin {
                    Some(p) => p.clone(),
                    None => sibling_binary("tolmach")
                        .ok_or_else(|| TargetError::Missing(PathBuf::from("tolmach"), "tolmach"))?,
                };
                let admin_port = free_port()?;
                let metrics_port = free_port()?;
                env.extend(tolmach_env(s, provider_url, work, admin_port, metrics_port));
                env.extend(s.bot_env.iter().cloned());
                let admin = Admin::new(format!("http://127.0.0.1:{admin_port}"));
                (program, Vec::new(), Some((admin, metrics_port)))
            }
            TargetKind::BareTeloxide => {
                let program = sibling_binary("bare-teloxide").ok_or_else(|| {
                    TargetError::Missing(PathBuf::from("bare-teloxide"), "bare-teloxide")
                })?;
                env.extend(peer_env(provider_url));
                (program, Vec::new(), None)
            }
            TargetKind::Python => {
                let python = python_peer(work)?;
                let script = peers_dir().join("python").join("bot.py");
                env.extend(peer_env(provider_url));
                (python, vec![script.display().to_string()], None)
            }
        };
        if s.target != TargetKind::Tolmach && s.platform != PlatformKind::Telegram {
            return Err(TargetError::Admin(format!(
                "the {} peer speaks Telegram only",
                s.target.as_str()
            )));
        }
        if !program.exists() {
            return Err(TargetError::Missing(program, "tolmach"));
        }
        // The bot runs in the work directory: a relative path must not change meaning. Made
        // absolute without resolving symlinks: a venv's `bin/python` is a symlink, and the
        // interpreter it points to would not see the venv's packages.
        let program = std::path::absolute(&program).unwrap_or(program);
        let (admin, metrics_url) = match admin {
            Some((admin, port)) => (
                Some(admin),
                Some(format!("http://127.0.0.1:{port}/metrics")),
            ),
            None => (None, None),
        };
        Ok(Target {
            kind: s.target,
            launch: Launch {
                program,
                args,
                env,
                log_dir: work.to_path_buf(),
            },
            child: Mutex::new(None),
            pid: watch::channel(None).0,
            starts: StdMutex::new(0),
            admin,
            metrics_url,
        })
    }

    pub fn kind(&self) -> TargetKind {
        self.kind
    }

    pub fn admin(&self) -> Option<&Admin> {
        self.admin.as_ref()
    }

    /// How many times the process was started.
    pub fn starts(&self) -> u32 {
        *self.starts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bot's Prometheus exposition now, if it serves one (tolmach does; the peers do not).
    pub async fn scrape(&self) -> Option<String> {
        let url = self.metrics_url.as_ref()?;
        // tolmach's HTTP endpoints share one client: the admin API's.
        let http = &self.admin.as_ref()?.http;
        let response = http.get(url).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.text().await.ok()
    }

    /// The pid of the running process, if any (changes on restart).
    pub fn pid(&self) -> watch::Receiver<Option<u32>> {
        self.pid.subscribe()
    }

    /// Starts the process; returns when it was started.
    pub async fn spawn(&self) -> Result<Instant, TargetError> {
        let n = {
            let mut starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
            *starts += 1;
            *starts
        };
        let log_path = self
            .launch
            .log_dir
            .join(format!("{}-{n}.log", self.kind.as_str()));
        let log = std::fs::File::create(&log_path)
            .map_err(|e| TargetError::Spawn(log_path.clone(), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| TargetError::Spawn(log_path.clone(), e))?;
        let mut cmd = Command::new(&self.launch.program);
        cmd.args(&self.launch.args)
            .env_clear()
            .envs(self.launch.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.launch.log_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(|e| TargetError::Spawn(self.launch.program.clone(), e))?;
        let at = Instant::now();
        self.pid.send_replace(child.id());
        *self.child.lock().await = Some(child);
        Ok(at)
    }

    /// SIGKILL; returns once the process is reaped, with the moment of the kill.
    pub async fn sigkill(&self) -> Result<Instant, TargetError> {
        let mut guard = self.child.lock().await;
        let mut child = guard
            .take()
            .ok_or(TargetError::NotRunning(self.kind.as_str()))?;
        self.pid.send_replace(None);
        let _ = child.start_kill();
        let at = Instant::now();
        let _ = child.wait().await;
        Ok(at)
    }

    /// SIGTERM, then waits up to `grace` for a clean exit; SIGKILL after that. Says how the
    /// process ended, including when it had already exited by itself.
    pub async fn stop(&self, grace: Duration) -> Result<Ending, TargetError> {
        let mut guard = self.child.lock().await;
        let Some(mut child) = guard.take() else {
            return Ok(Ending::NotRunning);
        };
        self.pid.send_replace(None);
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(Ending::ExitedEarly {
                status: status.code(),
            });
        }
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(grace, child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(Ending::Clean),
            Ok(Ok(status)) => Ok(Ending::Failed {
                status: status.code(),
            }),
            _ => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                Ok(Ending::Hung)
            }
        }
    }
}

/// How the bot process ended at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum Ending {
    /// Exited with status 0 on SIGTERM.
    Clean,
    /// Exited on SIGTERM with a failure status (`None`: killed by a signal).
    Failed { status: Option<i32> },
    /// Still running `grace` after SIGTERM; killed.
    Hung,
    /// Had already exited by itself before the run ended.
    ExitedEarly { status: Option<i32> },
    /// Was not running at the end: a restart after a SIGKILL failed.
    NotRunning,
}

impl Ending {
    /// What went wrong, or `None` for a clean exit.
    pub fn problem(&self) -> Option<String> {
        let status = |s: &Option<i32>| s.map_or("a signal".to_owned(), |c| format!("status {c}"));
        match self {
            Ending::Clean => None,
            Ending::Failed { status: s } => {
                Some(format!("the bot exited with {} on SIGTERM", status(s)))
            }
            Ending::Hung => Some("the bot did not exit within its grace after SIGTERM".to_owned()),
            Ending::ExitedEarly { status: s } => Some(format!(
                "the bot exited by itself during the run ({}); see its log",
                status(s)
            )),
            Ending::NotRunning => Some("the bot was not running at the end of the run".to_owned()),
        }
    }
}

/// tolmach's configuration for a load run: the platform fake, one OpenAI-compatible
/// provider (the fake) with the offline demo provider as its fallback, no per-user limits
/// (a load test's few thousand users write far more than people do), and send pacing
/// either out of the way or at the defaults (Telegram's real limits).
fn tolmach_env(
    s: &Scenario,
    provider_url: &str,
    work: &Path,
    admin_port: u16,
    metrics_port: u16,
) -> Vec<(String, String)> {
    let mut env: Vec<(&str, String)> = vec![
        (
            "TOLMACH_RUNTIME_DATA_DIR",
            work.join("data").display().to_string(),
        ),
        ("TOLMACH_METRICS_ADDR", format!("127.0.0.1:{metrics_port}")),
        ("TOLMACH_ADMIN_ADDR", format!("127.0.0.1:{admin_port}")),
        ("TOLMACH_ADMIN_TOKEN", ADMIN_TOKEN.into()),
        ("TOLMACH_LOG", "warn".into()),
        ("TOLMACH_USERS_DAILY_QUOTA", "0".into()),
        ("TOLMACH_RATE_LIMIT_BURST", "1000000".into()),
        ("TOLMACH_RATE_LIMIT_PER_MINUTE", "1000000".into()),
        ("TOLMACH_PROVIDERS_BENCH_KIND", "openai".into()),
        ("TOLMACH_PROVIDERS_BENCH_BASE_URL", provider_url.into()),
        ("TOLMACH_PROVIDERS_BENCH_MODEL", "bench".into()),
        ("TOLMACH_PROVIDERS_BENCH_PRIORITY", "1".into()),
        ("TOLMACH_PROVIDERS_BENCH_TIMEOUT", "10s".into()),
    ];
    // Random kills hit the few infrastructure actors (session, coordinator, providers) many
    // times a second; the default restart intensity (10 in 10 s) would rightly give up. A chaos
    // run measures surviving each kill, so it lifts the intensity, as tests/chaos.rs does.
    if s.chaos.kill_every.is_some() {
        env.push(("TOLMACH_SUPERVISION_MAX_RESTARTS", "1000000".into()));
        env.push(("TOLMACH_CONVERSATION_MAX_RESTARTS", "1000000".into()));
    }
    if s.limits == LimitsKind::Raised {
        let raised = [
            ("TOLMACH_PLATFORMS_TELEGRAM_CHAT_INTERVAL", "1ns"),
            ("TOLMACH_PLATFORMS_TELEGRAM_GROUP_INTERVAL", "1ns"),
            ("TOLMACH_PLATFORMS_TELEGRAM_GLOBAL_INTERVAL", "1ns"),
            ("TOLMACH_PLATFORMS_TELEGRAM_CHAT_BURST", "1000"),
            ("TOLMACH_PLATFORMS_TELEGRAM_GROUP_BURST", "1000"),
            ("TOLMACH_PLATFORMS_TELEGRAM_GLOBAL_BURST", "1000"),
            ("TOLMACH_PLATFORMS_DISCORD_CHANNEL_INTERVAL", "1ns"),
            ("TOLMACH_PLATFORMS_DISCORD_GLOBAL_INTERVAL", "1ns"),
            ("TOLMACH_PLATFORMS_DISCORD_CHANNEL_BURST", "1000"),
            ("TOLMACH_PLATFORMS_DISCORD_GLOBAL_BURST", "1000"),
        ];
        env.extend(raised.iter().map(|(k, v)| (*k, (*v).to_owned())));
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn peer_env(provider_url: &str) -> Vec<(String, String)> {
    vec![
        ("PROVIDER_URL".into(), provider_url.into()),
        ("PROVIDER_MODEL".into(), "bench".into()),
        (
            "PATH".into(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        ),
    ]
}

/// `loadtest/peers` in the source tree.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// Installs the Python peer's packages from PyPI into a venv under `target/` (once) and
/// returns its interpreter.
fn python_peer(_work: &Path) -> Result<PathBuf, TargetError> {
    let setup = peers_dir().join("python").join("setup.sh");
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("loadtest-venv");
    let out = std::process::Command::new("bash")
        .arg(&setup)
        .arg(&venv)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| TargetError::PythonSetup(e.to_string()))?;
    if !out.status.success() {
        return Err(TargetError::PythonSetup(format!(
            "{} exited with {}",
            setup.display(),
            out.status
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let python = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| PathBuf::from(l.trim()))
        .ok_or_else(|| TargetError::PythonSetup("setup.sh printed no interpreter".into()))?;
    Ok(python)
}

/// tolmach's admin API, as the chaos uses it.
pub struct Admin {
    base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Node {
    id: String,
    kind: String,
    status: String,
    #[serde(default)]
    children: Vec<Node>,
}

/// Worker kinds the chaos kills (supervisors are never picked, like tolmach's own chaos mode).
pub const KILLABLE: &[&str] = &[
    "conversation",
    "session",
    "provider",
    "coordinator",
    "rate_limiter",
];

impl Admin {
    fn new(base: String) -> Admin {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Admin { base, http }
    }

    /// Running actors of the [`KILLABLE`] kinds, as (path, kind).
    pub async fn killable(&self) -> Result<Vec<(String, String)>, TargetError> {
        let tree: Node = self
            .http
            .get(format!("{}/admin/tree", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| TargetError::Admin(e.without_url().to_string()))?
            .json()
            .await
            .map_err(|e| TargetError::Admin(e.without_url().to_string()))?;
        let mut out = Vec::new();
        fn walk(prefix: &str, n: &Node, out: &mut Vec<(String, String)>) {
            let path = if prefix.is_empty() {
                n.id.clone()
            } else {
                format!("{prefix}/{}", n.id)
            };
            if n.status == "running" && KILLABLE.contains(&n.kind.as_str()) {
                out.push((path.clone(), n.kind.clone()));
            }
            for c in &n.children {
                walk(&path, c, out);
            }
        }
        walk("", &tree, &mut out);
        Ok(out)
    }

    /// Kills the actor at `path`; `Ok(false)` if it was not running any more.
    pub async fn kill(&self, path: &str) -> Result<bool, TargetError> {
        let res = self
            .http
            .post(format!("{}/admin/kill", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({ "path": path }))
            .send()
            .await
            .map_err(|e| TargetError::Admin(e.without_url().to_string()))?;
        match res.status().as_u16() {
            200 => Ok(true),
            404 | 409 => Ok(false),
            code => Err(TargetError::Admin(format!("kill answered {code}"))),
        }
    }
}
