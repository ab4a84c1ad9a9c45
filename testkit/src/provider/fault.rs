//! The machinery behind the faults: per-request random numbers, the answer body that
//! drips, truncates or resets, the connection it can reset, and the tracker that counts
//! how each request ended.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{Api, DRIP_CHUNK_BYTES, Shared};

/// SplitMix64: tiny, fast and good enough for fault injection; no dependency needed.
#[derive(Clone, Debug)]
pub(super) struct Rng(u64);

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// The generator of the request at `index` (0-based) under `seed`: independent of
    /// the generators of the other requests, and always the same for the same pair.
    pub(super) fn for_request(seed: u64, index: u64) -> Rng {
        Rng(mix(seed ^ mix(index.wrapping_add(GOLDEN_GAMMA))))
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        mix(self.0)
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `true` with probability `p` (`p >= 1` always, `p <= 0` or NaN never).
    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `min..=max` (the bounds may come in either order), to the nanosecond.
    pub(super) fn duration(&mut self, min: Duration, max: Duration) -> Duration {
        let (low, high) = if min <= max { (min, max) } else { (max, min) };
        let span = u64::try_from((high - low).as_nanos()).unwrap_or(u64::MAX);
        let offset = match span.checked_add(1) {
            Some(n) => self.next_u64() % n,
            None => self.next_u64(),
        };
        low + Duration::from_nanos(offset)
    }
}

/// Per-connection state shared with the handlers (as a request extension).
#[derive(Clone, Debug)]
pub(super) struct Connection {
    /// Set by an answer that resets the connection; read when the socket is dropped.
    reset: Arc<AtomicBool>,
}

impl Connection {
    pub(super) fn new() -> Connection {
        Connection {
            reset: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// The accepted TCP stream. When its connection was marked for reset, it is closed with
/// `SO_LINGER` 0, which sends a TCP RST instead of a FIN.
pub(super) struct Socket {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Socket {
    pub(super) fn new(stream: TcpStream, connection: &Connection) -> Socket {
        Socket {
            stream,
            reset: Arc::clone(&connection.reset),
        }
    }

    fn resetting(&self) -> bool {
        self.reset.load(Ordering::Acquire)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.resetting() {
            // Best effort: without it the client still sees a short body and an EOF.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.resetting() {
            // No FIN before the RST: the close must look like a crash.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

/// How a recorded request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Completed,
    Abandoned,
    Reset,
}

/// Counts one request's outcome exactly once; dropped before that, the request counts
/// as abandoned (hyper drops the handler, or the body, when the client goes away).
pub(super) struct Tracker {
    shared: Arc<Shared>,
    api: Api,
    open: bool,
}

impl Tracker {
    pub(super) fn new(shared: Arc<Shared>, api: Api) -> Tracker {
        Tracker {
            shared,
            api,
            open: true,
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        if std::mem::take(&mut self.open) {
            self.shared.record_outcome(self.api, outcome);
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.finish(Outcome::Abandoned);
    }
}

/// How much of a rendered answer goes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cut {
    /// All of it.
    Whole,
    /// The first half, announced as the whole body.
    Truncate,
    /// The first half of a body announced at full length, then a connection reset.
    Reset,
}

type Pause = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The body of every chat and translation answer: sends `data` (in one frame, or in
/// drips), then either ends or fails, which makes hyper drop the connection (reset, as
/// the [`Connection`] is marked). Tracks the request's outcome.
pub(super) struct AnswerBody {
    data: Bytes,
    sent: usize,
    /// The length announced in `Content-Length`.
    declared: u64,
    /// Reset the connection once `data` is sent.
    reset: Option<Arc<AtomicBool>>,
    /// Whether the pause that lets hyper flush the last bytes before a reset happened.
    flushed: bool,
    drip: Option<Duration>,
    pause: Option<Pause>,
    shared: Arc<Shared>,
    tracker: Tracker,
}

impl AnswerBody {
    pub(super) fn new(
        body: Bytes,
        cut: Cut,
        drip: Option<Duration>,
        connection: &Connection,
        shared: Arc<Shared>,
        tracker: Tracker,
    ) -> AnswerBody {
        let full = body.len();
        // Half, but at least one byte and never all of it (for bodies of 2+ bytes).
        let half = full
            .div_ceil(2)
            .min(full.saturating_sub(1))
            .max(1)
            .min(full);
        let (data, declared, reset) = match cut {
            Cut::Whole => (body, full, None),
            Cut::Truncate => (body.slice(..half), half, None),
            Cut::Reset => (
                body.slice(..half),
                full,
                Some(Arc::clone(&connection.reset)),
            ),
        };
        let mut tracker = tracker;
        if data.is_empty() && reset.is_none() {
            // Hyper never polls an empty body.
            tracker.finish(Outcome::Completed);
        }
        AnswerBody {
            data,
            sent: 0,
            declared: declared as u64,
            reset,
            flushed: false,
            drip,
            pause: None,
            shared,
            tracker,
        }
    }
}

impl hyper::body::Body for AnswerBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.sent < this.data.len() {
            let chunk = match this.drip {
                Some(interval) => {
                    if this.sent > 0 {
                        let shared = Arc::clone(&this.shared);
                        let pause = this.pause.get_or_insert_with(|| {
                            // Once the fake shuts down, the rest goes out at once.
                            Box::pin(async move {
                                let _ = shared.pause(interval).await;
                            })
                        });
                        ready!(pause.as_mut().poll(cx));
                        this.pause = None;
                    }
                    DRIP_CHUNK_BYTES.max(1)
                }
                None => this.data.len(),
            };
            let end = (this.sent + chunk).min(this.data.len());
            let frame = this.data.slice(this.sent..end);
            this.sent = end;
            if this.sent == this.data.len() && this.reset.is_none() {
                this.tracker.finish(Outcome::Completed);
            }
            return Poll::Ready(Some(Ok(Frame::data(frame))));
        }
        match &this.reset {
            Some(reset) => {
                if !this.flushed {
                    // Hyper buffers the frames it gets and flushes when the body is
                    // pending: yield once so that the partial body is on the wire
                    // before the connection dies.
                    this.flushed = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                reset.store(true, Ordering::Release);
                this.tracker.finish(Outcome::Reset);
                Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "fake provider: connection reset mid-body",
                ))))
            }
            None => {
                this.tracker.finish(Outcome::Completed);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.reset.is_none() && self.sent >= self.data.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.declared.saturating_sub(self.sent as u64))
    }
}
