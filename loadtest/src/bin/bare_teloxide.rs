//! `bare-teloxide`: the peer the runtime's `/tr` command is benchmarked against.
//!
//! The same job as the runtime's `/tr <langs> <text>` (one provider call per language,
//! concurrently, then one `sendMessage` replying to the user's message with a
//! `<code>: <translation>` line per language), written the way a plain teloxide bot
//! would be: the stock `Dispatcher` over long polling (sequential per chat, concurrent
//! across chats) and one shared reqwest client for the provider. It is the floor for the
//! runtime's overhead: no actors, no supervision, no persistence, no retries, no rate
//! limiting, no caching.
//!
//! Environment: `TELEGRAM_BOT_TOKEN`, `TELEGRAM_API_URL` (the Bot API root, such as
//! `http://127.0.0.1:8081`), `PROVIDER_URL` (an OpenAI-compatible base such as
//! `http://127.0.0.1:8089/v1`) and `PROVIDER_MODEL` (default `bench`). Only errors are
//! logged, to stderr. SIGTERM or SIGINT stops it: updates already fetched get a short
//! grace period to be answered, then it exits with status 0.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::future::join_all;
use serde::Deserialize;
use serde_json::json;
use teloxide::RequestError;
use teloxide::dispatching::{Dispatcher, UpdateFilterExt as _, UpdateHandler};
use teloxide::prelude::*;
use teloxide::types::{Me, ReplyParameters};
use teloxide::update_listeners::Polling;

/// Long-poll timeout of `getUpdates`.
const POLL_TIMEOUT: Duration = Duration::from_secs(25);
/// How long one provider call may take before its line reads `(failed)`.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(30);
/// After a stop signal: how long answers in flight may take before the process exits
/// (the long poll in flight is not waited for).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// The answer to any text that is not a well-formed `/tr`.
const USAGE: &str = "Usage: /tr <langs> <text>";

/// The OpenAI-compatible chat-completions endpoint and the model to ask for.
#[derive(Clone)]
struct Provider {
    client: reqwest::Client,
    url: Arc<str>,
    model: Arc<str>,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: String,
}

impl Provider {
    /// One chat completion: `text` translated into `code`.
    async fn translate(&self, code: &str, text: &str) -> anyhow::Result<String> {
        let body = json!({
            "model": &*self.model,
            "messages": [
                {
                    "role": "system",
                    "content": format!(
                        "Translate the user's text into {code} (language code: {code}). \
                         Answer with the translation only."
                    ),
                },
                { "role": "user", "content": text },
            ],
        });
        let completion: Completion = self
            .client
            .post(&*self.url)
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        completion
            .choices
            .into_iter()
            .next()
            .map(|choice| choice.message.content)
            .context("no choices in the answer")
    }

    /// Every language at once; one `<code>: <translation>` line each, in the order given.
    async fn translate_all(&self, codes: &[&str], text: &str) -> String {
        let answers = join_all(codes.iter().map(|code| self.translate(code, text))).await;
        let mut reply = String::new();
        for (code, answer) in codes.iter().zip(answers) {
            if !reply.is_empty() {
                reply.push('\n');
            }
            match answer {
                Ok(translation) => reply.push_str(&format!("{code}: {translation}")),
                Err(e) => {
                    eprintln!("bare-teloxide: provider call for {code} failed: {e:#}");
                    reply.push_str(&format!("{code}: (failed)"));
                }
            }
        }
        reply
    }
}

/// `/tr <langs> <text>` (or `/tr@<this bot> ...`): the language codes and the text, or
/// `None` for anything else.
fn parse_tr<'a>(text: &'a str, bot_username: Option<&str>) -> Option<(Vec<&'a str>, &'a str)> {
    let text = text.trim_start();
    let command_end = text.find(char::is_whitespace).unwrap_or(text.len());
    let (command, rest) = text.split_at(command_end);
    let addressed_here = match command.strip_prefix("/tr")? {
        "" => true,
        mention => mention
            .strip_prefix('@')
            .zip(bot_username)
            .is_some_and(|(to, me)| to.eq_ignore_ascii_case(me)),
    };
    if !addressed_here {
        return None;
    }
    let rest = rest.trim_start();
    let langs_end = rest.find(char::is_whitespace)?;
    let (langs, body) = rest.split_at(langs_end);
    let codes: Vec<&str> = langs
        .split(',')
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .collect();
    let body = body.trim();
    (!codes.is_empty() && !body.is_empty()).then_some((codes, body))
}

/// Every message: translate a `/tr`, answer anything else with the usage line.
async fn on_message(
    bot: Bot,
    msg: Message,
    me: Me,
    provider: Provider,
) -> Result<(), RequestError> {
    let Some(text) = msg.text() else {
        return Ok(());
    };
    let answer = match parse_tr(text, me.user.username.as_deref()) {
        Some((codes, body)) => provider.translate_all(&codes, body).await,
        None => USAGE.to_owned(),
    };
    bot.send_message(msg.chat.id, answer)
        .reply_parameters(ReplyParameters::new(msg.id).allow_sending_without_reply())
        .await?;
    Ok(())
}

fn env(name: &str) -> anyhow::Result<String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        Ok(_) => bail!("{name} is empty"),
        Err(e) => Err(e).with_context(|| format!("{name} is not set")),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let token = env("TELEGRAM_BOT_TOKEN")?;
    let api_url = env("TELEGRAM_API_URL")?;
    let api_url: reqwest::Url = api_url
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("TELEGRAM_API_URL {api_url:?} is not a URL"))?;
    let provider_url = env("PROVIDER_URL")?;
    let model = std::env::var("PROVIDER_MODEL")
        .ok()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| "bench".to_owned());

    let telegram_client = teloxide::net::default_reqwest_settings()
        .no_proxy()
        // Longer than the long poll, so a poll is never cut short by the client.
        .timeout(POLL_TIMEOUT + Duration::from_secs(15))
        .build()
        .context("cannot build the Telegram HTTP client")?;
    let bot = Bot::with_client(token, telegram_client).set_api_url(api_url);
    let provider = Provider {
        client: reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .context("cannot build the provider HTTP client")?,
        url: format!("{}/chat/completions", provider_url.trim_end_matches('/')).into(),
        model: model.into(),
    };

    let handler: UpdateHandler<RequestError> = Update::filter_message().endpoint(on_message);
    let mut dispatcher = Dispatcher::builder(bot.clone(), handler)
        .dependencies(dptree::deps![provider])
        // Updates other than messages are ignored, silently.
        .default_handler(|_| async {})
        .error_handler(Arc::new(|e: RequestError| async move {
            eprintln!("bare-teloxide: sendMessage failed: {e}");
        }))
        .build();
    let shutdown = dispatcher.shutdown_token();
    let listener = Polling::builder(bot).timeout(POLL_TIMEOUT).build();
    let listener_errors = Arc::new(|e: RequestError| async move {
        eprintln!("bare-teloxide: getUpdates failed: {e}");
    });

    let dispatch = dispatcher.try_dispatch_with_listener(listener, listener_errors);
    tokio::pin!(dispatch);
    tokio::select! {
        result = &mut dispatch => {
            return result.context("cannot start dispatching (getMe failed)");
        }
        signal = stop_signal() => signal?,
    }
    // Stop fetching updates and let the answers in flight go out, but don't sit out the
    // long poll in flight: the harness wants the process gone promptly.
    if shutdown.shutdown().is_ok() {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, dispatch).await;
    }
    Ok(())
}
