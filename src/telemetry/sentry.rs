//! Error reporting to Sentry.
//!
//! What becomes a Sentry event: panics (the panic integration), and log events at `ERROR`
//! (actor failures, supervisor escalations) or at `WARN` with an `alert` field (a circuit
//! opening). Their `tags.*` fields become Sentry tags: `actor_kind`, `platform`, `provider`.
//! `INFO` and `WARN` lines become breadcrumbs. Events carry the release (`tolmach@<version>`)
//! and the configured environment.
//!
//! What never reaches Sentry: user text (breadcrumbs and events drop any `text` field, and user
//! text is only logged at all with `log.user_text`), and secrets: every envelope passes the
//! [`Redactor`] on its way out, in the transport itself, after the SDK is done with it.
//!
//! The transport is our own (reqwest, the HTTP client the providers already use) instead of the
//! SDK's, which would bring a second HTTP stack. It runs on a thread of its own with a small
//! runtime, so a panic hook or a shutting-down runtime can still hand it events.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use sentry::protocol::{Breadcrumb, Envelope, Event, Value};
use sentry::{ClientInitGuard, ClientOptions, Transport, TransportFactory, TransportOptions};

use super::redact::Redactor;
use crate::config::SentryConfig;

/// Events waiting to be sent beyond this are dropped (Sentry down must not cost memory).
const QUEUE: usize = 100;

/// Starts the Sentry client if a DSN is configured. Keep the guard for the process's life; its
/// drop sends what is queued (up to 2 s).
pub fn init(config: &SentryConfig, redactor: Redactor) -> Option<ClientInitGuard> {
    let dsn = config.dsn.as_ref()?;
    let dsn = match dsn.expose().parse() {
        Ok(d) => d,
        Err(_) => {
            eprintln!("tolmach: sentry.dsn is not a valid DSN; error reporting is off");
            return None;
        }
    };
    let mut options = ClientOptions::new()
        .release(format!("tolmach@{}", env!("CARGO_PKG_VERSION")))
        .environment(config.environment.clone())
        .sample_rate(config.sample_rate);
    options.dsn = Some(dsn);
    options.send_default_pii = false;
    options.attach_stacktrace = false;
    options.shutdown_timeout = Duration::from_secs(2);
    options.before_send = Some(Arc::new(|event| Some(scrub_event(event))));
    options.before_breadcrumb = Some(Arc::new(|crumb| Some(scrub_breadcrumb(crumb))));
    options.transport = Some(Arc::new(ReqwestTransportFactory { redactor }));
    Some(sentry::init(options))
}

/// Field names that may hold user text.
const USER_TEXT_FIELDS: &[&str] = &["text", "quoted", "transcript"];

fn scrub_event(mut event: Event<'static>) -> Event<'static> {
    for context in event.contexts.values_mut() {
        if let sentry::protocol::Context::Other(map) = context {
            map.retain(|k, _| !USER_TEXT_FIELDS.contains(&k.as_str()));
        }
    }
    event
        .extra
        .retain(|k, _| !USER_TEXT_FIELDS.contains(&k.as_str()));
    // No server name: it is the pod or host name, noise in a tag and sometimes a customer name.
    event.server_name = None;
    event
}

fn scrub_breadcrumb(mut crumb: Breadcrumb) -> Breadcrumb {
    crumb
        .data
        .retain(|k, _| !USER_TEXT_FIELDS.contains(&k.as_str()));
    if let Some(Value::Object(fields)) = crumb.data.get_mut("fields") {
        fields.retain(|k, _| !USER_TEXT_FIELDS.contains(&k.as_str()));
    }
    crumb
}

struct ReqwestTransportFactory {
    redactor: Redactor,
}

impl TransportFactory for ReqwestTransportFactory {
    fn create_transport_with_options(&self, options: TransportOptions) -> Arc<dyn Transport> {
        Arc::new(ReqwestTransport::start(options, self.redactor.clone()))
    }
}

/// Envelopes queued and not sent yet, with a condition to wait on for `flush`.
#[derive(Default)]
struct Pending {
    count: Mutex<usize>,
    drained: Condvar,
}

impl Pending {
    fn add(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    fn done(&self) {
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.drained.notify_all();
        }
    }

    fn wait(&self, timeout: Duration) -> bool {
        let n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        let (n, _) = self
            .drained
            .wait_timeout_while(n, timeout, |n| *n > 0)
            .unwrap_or_else(|e| e.into_inner());
        *n == 0
    }
}

struct ReqwestTransport {
    queue: Mutex<Option<mpsc::SyncSender<Vec<u8>>>>,
    pending: Arc<Pending>,
    redactor: Redactor,
}

impl ReqwestTransport {
    fn start(options: TransportOptions, redactor: Redactor) -> Self {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(QUEUE);
        let pending = Arc::new(Pending::default());
        let url = options.dsn.envelope_api_url().to_string();
        let auth = options
            .dsn
            .to_auth(Some(options.user_agent.as_ref()))
            .to_string();
        let loopback = matches!(options.dsn.host(), "127.0.0.1" | "localhost" | "::1");
        let worker_pending = pending.clone();
        let spawned = std::thread::Builder::new()
            .name("sentry-transport".into())
            .spawn(move || send_loop(rx, url, auth, loopback, worker_pending));
        if let Err(e) = spawned {
            eprintln!("tolmach: cannot start the Sentry transport: {e}");
        }
        Self {
            queue: Mutex::new(Some(tx)),
            pending,
            redactor,
        }
    }
}

fn send_loop(
    rx: mpsc::Receiver<Vec<u8>>,
    url: String,
    auth: String,
    loopback: bool,
    pending: Arc<Pending>,
) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    // The client's connector needs the runtime's reactor.
    let _entered = runtime.enter();
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if loopback {
        builder = builder.no_proxy();
    }
    let Ok(client) = builder.build() else {
        return;
    };
    while let Ok(body) = rx.recv() {
        let request = client
            .post(&url)
            .header("X-Sentry-Auth", &auth)
            .header("Content-Type", "application/x-sentry-envelope")
            .body(body);
        // Failures are not logged: a log line here could become another event.
        let _ = runtime.block_on(request.send());
        pending.done();
    }
}

impl Transport for ReqwestTransport {
    fn send_envelope(&self, envelope: Envelope) {
        let mut body = Vec::new();
        if envelope.to_writer(&mut body).is_err() {
            return;
        }
        // The envelope's header line is the SDK's own (event id, DSN, SDK version): kept as is
        // so ingestion can route it. Everything after it passes the redactor.
        let split = body
            .iter()
            .position(|b| *b == b'\n')
            .map_or(body.len(), |i| i + 1);
        let (head, items) = body.split_at(split);
        let mut out = head.to_vec();
        out.extend_from_slice(&self.redactor.redact_bytes(items));
        let body = out;
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = queue.as_ref() {
            self.pending.add();
            if tx.try_send(body).is_err() {
                self.pending.done();
            }
        }
    }

    fn flush(&self, timeout: Duration) -> bool {
        self.pending.wait(timeout)
    }

    fn shutdown(&self, timeout: Duration) -> bool {
        let flushed = self.flush(timeout);
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        flushed
    }
}
