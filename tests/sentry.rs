//! Error reporting against the test kit's fake Sentry: what becomes an event (a circuit
//! opening, an actor failure, a panic), with which tags, release and environment, and that no
//! secret ever reaches Sentry, even one a panic message carries.
//!
//! Its own test binary: the Sentry client and the tracing subscriber are process-wide.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::Value;
use tolmach::App;
use tolmach::platforms::memory::MemoryPlatform;
use tolmach::supervision::{
    ActorKind, Backoff, ChildSpec, Intensity, Restart, Slot, Strategy, Supervisor, SupervisorArgs,
    TreeWatch,
};
use tolmach::telemetry::metrics::Metrics;
use tolmach_testkit::{Behavior, FakeProvider, FakeSentry};

const PROVIDER_KEY: &str = "sk-live-SECRET0123456789abcdefXYZ";
const ADMIN_TOKEN: &str = "admin-token-SECRET-4f9d2a7c";
const DSN_KEY: &str = "0123456789abcdef0123456789abcdef";

/// An actor that panics on its first message, with secrets in the panic message.
struct Bomb;

impl Actor for Bomb {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(&self, _: ActorRef<()>, _: (), _: &mut ()) -> Result<(), ActorProcessingErr> {
        panic!("boom while holding {PROVIDER_KEY} and Bearer {ADMIN_TOKEN}");
    }
}

fn tag<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    event["tags"][name].as_str()
}

fn message(event: &Value) -> String {
    let m = &event["message"];
    m.as_str()
        .or_else(|| m["formatted"].as_str())
        .or_else(|| event["logentry"]["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn text_of(event: &Value) -> String {
    event.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentry_gets_tagged_events_and_never_a_secret() {
    let sentry = FakeSentry::start().await.expect("fake sentry");
    let provider = FakeProvider::start().await.expect("fake provider");
    provider.set_behavior(Behavior::Status(500));
    let dsn = sentry.dsn(DSN_KEY);
    let base_url = provider.base_url();
    let config = common::config(&[
        ("TOLMACH_SENTRY_DSN", &dsn),
        ("TOLMACH_SENTRY_ENVIRONMENT", "test"),
        ("TOLMACH_ADMIN_TOKEN", ADMIN_TOKEN),
        ("TOLMACH_ADMIN_ADDR", "127.0.0.1:0"),
        ("TOLMACH_PROVIDERS_LEAKY_KIND", "openai"),
        ("TOLMACH_PROVIDERS_LEAKY_BASE_URL", &base_url),
        ("TOLMACH_PROVIDERS_LEAKY_MODEL", "m"),
        ("TOLMACH_PROVIDERS_LEAKY_PRIORITY", "1"),
        ("TOLMACH_PROVIDERS_LEAKY_API_KEY_ENV", "LEAKY_KEY"),
        ("LEAKY_KEY", PROVIDER_KEY),
        ("TOLMACH_RESILIENCE_RETRY_MAX_ATTEMPTS", "1"),
        ("TOLMACH_RESILIENCE_BREAKER_MINIMUM_CALLS", "2"),
        ("TOLMACH_RESILIENCE_BREAKER_WINDOW_SIZE", "2"),
        ("TOLMACH_LOG", "info"),
    ]);
    let telemetry = tolmach::telemetry::init(&config).expect("telemetry");
    assert!(telemetry.sentry_enabled());

    // 1. A provider failing until its circuit opens.
    let platform = Arc::new(MemoryPlatform::new());
    let app = App::start(config, vec![platform.clone()])
        .await
        .expect("app starts");
    for i in 0..4 {
        platform.push("c1", "u1", &format!("/tr es failing {i}"));
    }
    assert!(platform.wait_for_replies(4, common::PATIENCE).await);
    let opened = sentry
        .wait_for_event(common::PATIENCE, |e| message(e).contains("circuit opened"))
        .await
        .expect("the circuit opening is reported");
    assert_eq!(tag(&opened, "provider"), Some("leaky"), "{opened:#}");
    assert_eq!(opened["level"], "warning", "{opened:#}");
    assert_eq!(
        opened["release"],
        format!("tolmach@{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(opened["environment"], "test");

    // 2. An actor that panics under a supervisor: the panic and the failure are reported.
    let slot = Slot::new();
    let (sup, _) = Actor::spawn(
        None,
        Supervisor,
        SupervisorArgs {
            id: "bombs".into(),
            kind: ActorKind::Other,
            strategy: Strategy::OneForOne,
            intensity: Intensity {
                max_restarts: 10,
                within: Duration::from_secs(60),
            },
            backoff: Backoff {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(5),
            },
            child_shutdown_timeout: Duration::from_secs(1),
            children: vec![ChildSpec::worker(
                "bomb",
                ActorKind::Other,
                Restart::Permanent,
                Some(slot.clone()),
                || (Bomb, ()),
            )],
            metrics: Metrics::new(),
            watch: TreeWatch::default(),
        },
    )
    .await
    .expect("supervisor");
    let bomb = slot
        .live(None, tokio::time::Instant::now() + common::PATIENCE)
        .await
        .expect("bomb started");
    bomb.cast(()).expect("send");
    let failed = sentry
        .wait_for_event(common::PATIENCE, |e| message(e).contains("actor failed"))
        .await
        .expect("the actor failure is reported");
    assert_eq!(tag(&failed, "actor_kind"), Some("other"), "{failed:#}");
    // "error" is Sentry's default level, left out of the payload.
    assert!(
        failed["level"].is_null() || failed["level"] == "error",
        "{failed:#}"
    );
    let panicked = sentry
        .wait_for_event(common::PATIENCE, |e| {
            e["exception"]["values"][0]["value"]
                .as_str()
                .is_some_and(|v| v.contains("boom while holding"))
        })
        .await
        .expect("the panic is reported");
    assert!(text_of(&panicked).contains("<redacted>"), "{panicked:#}");
    sup.stop(None);

    // 3. Nothing anywhere in what Sentry received holds a secret. The DSN's public key is in
    // the envelope header (routing) and the auth header, nowhere else.
    let envelopes = sentry.envelopes();
    assert!(envelopes.len() >= 3);
    for e in &envelopes {
        assert_eq!(e.project, "42");
        assert!(e.auth.contains(DSN_KEY), "auth header: {}", e.auth);
        for secret in [PROVIDER_KEY, ADMIN_TOKEN] {
            assert!(!e.raw.contains(secret), "secret in an envelope:\n{}", e.raw);
        }
        let items = e.raw.split_once('\n').map_or("", |(_, rest)| rest);
        assert!(!items.contains(DSN_KEY), "DSN key in an event:\n{items}");
        // No user text: the messages translated held "failing N".
        assert!(
            !items.contains("failing 0"),
            "user text in an event:\n{items}"
        );
    }
    app.shutdown().await;
}
