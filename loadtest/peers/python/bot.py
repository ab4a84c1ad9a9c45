"""bare-ptb: the python-telegram-bot peer the runtime's `/tr` command is benchmarked against.

The same job as the runtime's `/tr <langs> <text>` (one provider call per language,
concurrently, then one sendMessage replying to the user's message with a
`<code>: <translation>` line per language), written the way a plain python-telegram-bot
bot would be: `Application.run_polling` with concurrent updates, one shared
`httpx.AsyncClient` for the provider and `asyncio.gather` over the languages. Like the
`bare-teloxide` binary, it is a floor for the runtime's overhead: no actors, no
supervision, no persistence, no retries, no rate limiting (PTB's `AIORateLimiter` is
deliberately not installed), no caching.

Environment: TELEGRAM_BOT_TOKEN, TELEGRAM_API_URL (the Bot API root, such as
http://127.0.0.1:8081), PROVIDER_URL (an OpenAI-compatible base such as
http://127.0.0.1:8089/v1) and PROVIDER_MODEL (default "bench"). Proxy variables are
ignored: every HTTP client is built with trust_env=False. Only errors are logged, to
stderr. SIGTERM or SIGINT stops it cleanly (exit status 0).

Run it with the interpreter that setup.sh prints: `$PY loadtest/peers/python/bot.py`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import httpx
from telegram import Message, ReplyParameters, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

LOG = logging.getLogger("tr")

#: Long-poll timeout of getUpdates, in seconds.
POLL_TIMEOUT = 25
#: How long one provider call may take before its line reads "(failed)", in seconds.
PROVIDER_TIMEOUT = 30.0
#: Updates handled at once: `concurrent_updates(True)`'s 256, the fastest usual PTB setup
#: (512 measured slower on 2 cores: more tasks fighting over one event loop). Unlike
#: teloxide's dispatcher, PTB does not keep one chat's updates in order: every update is
#: its own task, up to this many at once.
CONCURRENT_UPDATES = 256
#: Connections to the Bot API: one per update in flight, so sends never wait for a free
#: connection (PTB's default size).
POOL_SIZE = 256
#: Idle connections kept for reuse, per client. httpcore 1.0 scans every pooled connection
#: (polling each idle socket) for every request, so a big idle pool costs more than it
#: saves: with PTB's own setting (keep all `POOL_SIZE`) and 160 requests at once, a warm
#: pool answered in ~5 s what a cold one did in ~1.5 s, and a 1000-message backlog ran
#: at ~60-75 msg/s with 20 kept against ~80-100 with 0 to 4 kept (encode/httpcore#1035).
KEEPALIVE = 4
#: The answer to any text that is not a well-formed /tr.
USAGE = "Usage: /tr <langs> <text>"


def parse_tr(text: str, bot_username: str | None) -> tuple[list[str], str] | None:
    """`/tr <langs> <text>` (or `/tr@<this bot> ...`): the codes and the text, else None.

    The same rules as `parse_tr` in loadtest/src/bin/bare_teloxide.rs.
    """
    text = text.lstrip()
    parts = text.split(maxsplit=1)
    if not parts:
        return None
    command = parts[0]
    if not command.startswith("/tr"):
        return None
    mention = command[len("/tr") :]
    if mention:
        if not mention.startswith("@") or bot_username is None:
            return None
        if mention[1:].lower() != bot_username.lower():
            return None
    rest = parts[1] if len(parts) > 1 else ""
    langs_and_body = rest.split(maxsplit=1)
    if len(langs_and_body) < 2:
        return None
    langs, body = langs_and_body
    codes = [code.strip() for code in langs.split(",") if code.strip()]
    body = body.strip()
    if not codes or not body:
        return None
    return codes, body


def describe(error: BaseException) -> str:
    """`Type: first line of the message`: one log line per error."""
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


class Provider:
    """The OpenAI-compatible chat-completions endpoint and the model to ask for."""

    def __init__(self, base_url: str, model: str) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.client = httpx.AsyncClient(
            trust_env=False,
            timeout=httpx.Timeout(PROVIDER_TIMEOUT, connect=5.0),
            # No cap on connections, like reqwest's pool; a few kept alive (see KEEPALIVE).
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=KEEPALIVE),
        )

    async def translate(self, code: str, text: str) -> str:
        response = await self.client.post(
            self.url,
            json={
                "model": self.model,
                "messages": [
                    {
                        "role": "system",
                        "content": f"Translate the user's text into {code} "
                        f"(language code: {code}). Answer with the translation only.",
                    },
                    {"role": "user", "content": text},
                ],
            },
        )
        response.raise_for_status()
        content = response.json()["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise ValueError(f"content is {type(content).__name__}, not a string")
        return content

    async def translate_all(self, codes: list[str], text: str) -> str:
        """Every language at once; one `<code>: <translation>` line each, in order."""
        answers = await asyncio.gather(
            *(self.translate(code, text) for code in codes), return_exceptions=True
        )
        lines = []
        for code, answer in zip(codes, answers):
            if isinstance(answer, BaseException):
                LOG.error("provider call for %s failed: %s", code, describe(answer))
                lines.append(f"{code}: (failed)")
            else:
                lines.append(f"{code}: {answer}")
        return "\n".join(lines)

    async def close(self) -> None:
        await self.client.aclose()


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every text message: translate a /tr, answer anything else with the usage line."""
    message: Message | None = update.message
    if message is None or message.text is None:
        return
    provider: Provider = context.bot_data["provider"]
    parsed = parse_tr(message.text, context.bot.username)
    if parsed is None:
        answer = USAGE
    else:
        codes, body = parsed
        answer = await provider.translate_all(codes, body)
    await context.bot.send_message(
        chat_id=message.chat_id,
        text=answer,
        reply_parameters=ReplyParameters(
            message_id=message.message_id, allow_sending_without_reply=True
        ),
    )


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    if context.error is not None:
        LOG.error("update failed: %s", describe(context.error))


def require_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        sys.exit(f"bare-ptb: {name} is not set")
    return value


def main() -> int:
    logging.basicConfig(
        level=logging.ERROR, stream=sys.stderr, format="bare-ptb: %(name)s: %(message)s"
    )
    token = require_env("TELEGRAM_BOT_TOKEN")
    api = require_env("TELEGRAM_API_URL").rstrip("/")
    provider_url = require_env("PROVIDER_URL")
    model = os.environ.get("PROVIDER_MODEL", "").strip() or "bench"

    async def post_init(app: Application) -> None:
        app.bot_data["provider"] = Provider(provider_url, model)

    async def post_shutdown(app: Application) -> None:
        provider = app.bot_data.get("provider")
        if provider is not None:
            await provider.close()

    # Built by hand rather than with the builder's pool settings: only HTTPXRequest takes
    # httpx_kwargs, where trust_env=False keeps HTTP(S)_PROXY away from 127.0.0.1.
    request = HTTPXRequest(
        connection_pool_size=POOL_SIZE,
        connect_timeout=5.0,
        read_timeout=30.0,
        write_timeout=30.0,
        pool_timeout=30.0,
        httpx_kwargs={
            "trust_env": False,
            # Replaces PTB's Limits(max_connections=POOL_SIZE), which keeps every idle one.
            "limits": httpx.Limits(
                max_connections=POOL_SIZE, max_keepalive_connections=KEEPALIVE
            ),
        },
    )
    # Only one getUpdates is ever in flight; PTB adds the poll timeout to read_timeout.
    get_updates_request = HTTPXRequest(
        connection_pool_size=2,
        connect_timeout=5.0,
        read_timeout=10.0,
        httpx_kwargs={"trust_env": False},
    )
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .request(request)
        .get_updates_request(get_updates_request)
        .concurrent_updates(CONCURRENT_UPDATES)
        .job_queue(None)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT, on_text))
    app.add_error_handler(on_error)
    # Stops on SIGINT, SIGTERM and SIGABRT (PTB's default stop_signals).
    app.run_polling(timeout=POLL_TIMEOUT, allowed_updates=[Update.MESSAGE])
    return 0


if __name__ == "__main__":
    sys.exit(main())
