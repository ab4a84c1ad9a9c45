//! The `tolmach` binary: parse arguments, load configuration, set up logging, run the runtime
//! until a signal or the end of input.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tolmach::config::{Config, ProcessEnv};
use tolmach::platforms::console::ConsolePlatform;
use tolmach::{App, app};

/// mimalloc instead of the system allocator: under load glibc's malloc and free were about a
/// sixth of the process's CPU (ADR 0017; `tolmach::alloc`).
#[global_allocator]
static ALLOCATOR: tolmach::alloc::MiMalloc = tolmach::alloc::MiMalloc;

/// A resilient chat-bot runtime that translates into many languages at once.
///
/// With no platform tokens it runs on the console: type a line, get the reply.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML), layered over the built-in defaults; the environment
    /// (TOLMACH_*) overrides both.
    #[arg(long, short, env = "TOLMACH_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long)]
    check_config: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Ask a running tolmach whether it is healthy: exit 0 when the URL answers 200, 1
    /// otherwise. For container HEALTHCHECKs, where there is no curl.
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:9464/healthz")]
        url: String,
        /// Give up after this long.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Healthcheck { url, timeout }) = &args.command {
        return healthcheck(url, *timeout);
    }
    let config = match Config::load(args.config.as_deref(), &ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tolmach: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        println!("{config:#?}");
        return ExitCode::SUCCESS;
    }
    let _telemetry = match tolmach::telemetry::init(&config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tolmach: cannot set up logging: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tolmach: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(config));
    // The stdin reader thread may still be blocked in a read; do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Logging is set up by now, and logs go to stderr.
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    // Before anything starts serving: a SIGTERM that arrives during start-up must still mean
    // "shut down gracefully", not the default "die now".
    let shutdown = shutdown_signal()?;
    let metrics = tolmach::telemetry::metrics::Metrics::new();
    let store = tolmach::store::Store::open(&config.runtime.data_dir)?;
    let platforms = app::platforms_from_config(&config, &metrics, &store)?;
    let console = platforms
        .iter()
        .any(|p| p.id() == tolmach::domain::PlatformId::Console);
    let demo_only = config
        .providers
        .iter()
        .all(|p| matches!(p.kind, tolmach::config::ProviderKind::Demo));
    let app = App::start_with(config, metrics, store, platforms)
        .await
        .context("cannot start")?;
    if console && ConsolePlatform::interactive() {
        eprintln!(
            "tolmach console: type a message and press Enter (Ctrl-D to quit). Try: translate good morning to Spanish, French and German"
        );
        if demo_only {
            eprintln!(
                "(offline demo provider: a small phrasebook only; configure a provider for real translations, see the README)"
            );
        }
    }
    app.run(shutdown).await?;
    Ok(())
}

fn healthcheck(url: &str, timeout: std::time::Duration) -> ExitCode {
    let check = async {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .build()?;
        client.get(url).send().await
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(check).map_err(|e| e.to_string()));
    match result {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("tolmach healthcheck: {url} answered {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("tolmach healthcheck: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the SIGINT and SIGTERM handlers now; the returned future resolves on either.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => tracing::info!("SIGINT received"),
            _ = term.recv() => tracing::info!("SIGTERM received"),
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
