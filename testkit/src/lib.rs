//! Fake servers for tolmach's tests, benchmarks and hand trials.
//!
//! Today this crate provides [`FakeProvider`], a local OpenAI-compatible
//! chat-completions server whose answers are scripted per request ([`Behavior`]):
//! echoes, fixed replies, HTTP errors, rate limits, delays, hangs and several kinds of
//! malformed payload. Every request is recorded ([`RecordedRequest`]) so tests can
//! assert on what the code under test actually sent.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let fake = tolmach_testkit::FakeProvider::start().await?;
//! println!("point the client at {}", fake.base_url());
//! # Ok(())
//! # }
//! ```
//!
//! The `fake-provider` binary runs the same server standalone for hand trials:
//! `cargo run -p tolmach-testkit --bin fake-provider -- --behavior echo`.

pub mod provider;

pub use provider::*;
