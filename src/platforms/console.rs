//! The console platform: one private chat over stdin/stdout.
//!
//! Each line on stdin is one message; each reply is printed to stdout followed by a blank line.
//! Logs go to stderr, so `printf '...' | tolmach > replies.txt` captures only replies. At end of
//! input (Ctrl-D, or the end of a pipe) `recv` returns `None`, and with no other platform the
//! runtime stops once every reply is out.
//!
//! Stdin is read by a plain thread, not a tokio blocking task: a blocking read cannot be
//! cancelled, and a thread does not hold up the runtime's shutdown. Lines longer than
//! `max_line_bytes` are cut there (the rest of the line is skipped) and flagged, so a huge paste
//! costs bounded memory and still gets a clear answer. Invalid UTF-8 is replaced, not rejected.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::sync::{mpsc, watch};

use super::{Platform, SendError};
use crate::domain::{ChatKey, ChatKind, Inbound, MessageKey, Outbound, PlatformId, UserKey};

const CHAT: &str = "local";
const USER: &str = "local";

/// See the module docs.
pub struct ConsolePlatform {
    rx: tokio::sync::Mutex<mpsc::Receiver<Inbound>>,
    closed: watch::Sender<bool>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl ConsolePlatform {
    /// Starts reading stdin (on its own thread) and writing replies to stdout.
    pub fn stdio(max_line_bytes: usize) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(256);
        std::thread::Builder::new()
            .name("console-stdin".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                read_lines(stdin.lock(), max_line_bytes, &tx);
            })?;
        Ok(Self {
            rx: tokio::sync::Mutex::new(rx),
            closed: watch::Sender::new(false),
            out: Mutex::new(Box::new(std::io::stdout())),
        })
    }

    /// Whether stdin is a terminal (someone typing), to decide on a greeting.
    pub fn interactive() -> bool {
        std::io::stdin().is_terminal()
    }
}

/// Reads lines from `input` and sends them as messages until end of input or until the
/// receiver is gone.
fn read_lines(mut input: impl BufRead, max_line_bytes: usize, tx: &mpsc::Sender<Inbound>) {
    // Message ids are `<run>.<line>`: unique across runs too, as the store needs (a translation
    // is recorded once per message id, so a second run numbering from 1 again went unrecorded).
    let run = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut number: u64 = 0;
    loop {
        let (line, original_len) = match read_capped_line(&mut input, max_line_bytes) {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "console: cannot read stdin; treating it as closed");
                return;
            }
        };
        number += 1;
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        let truncated = (original_len > line.len()).then_some(original_len);
        let id = format!("{run:x}.{number}");
        let inbound = Inbound {
            key: MessageKey {
                chat: ChatKey::new(PlatformId::Console, CHAT),
                id: id.as_str().into(),
            },
            user: UserKey::new(PlatformId::Console, USER),
            chat_kind: ChatKind::Private,
            reply_to: Some(id.into()),
            text,
            truncated,
            quoted: None,
            user_language: None,
            voice: None,
            unreadable: false,
            received_at: tokio::time::Instant::now(),
        };
        if tx.blocking_send(inbound).is_err() {
            return;
        }
    }
}

/// One line of at most `cap` bytes (plus the total length it had), `None` at end of input.
fn read_capped_line(
    input: &mut impl BufRead,
    cap: usize,
) -> std::io::Result<Option<(Vec<u8>, usize)>> {
    let mut line = Vec::new();
    let mut total = 0usize;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok((total > 0).then_some((line, total)));
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..n.min(room)]);
        total += n;
        input.consume(n);
        if done {
            // Do not count the line terminator as content.
            let content = total - 1;
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            // A cut may land inside a multi-byte character; drop the partial tail.
            if content > line.len()
                && let Err(e) = std::str::from_utf8(&line)
                && e.error_len().is_none()
            {
                line.truncate(e.valid_up_to());
            }
            return Ok(Some((line, content)));
        }
    }
}

#[async_trait::async_trait]
impl Platform for ConsolePlatform {
    fn id(&self) -> PlatformId {
        PlatformId::Console
    }

    async fn recv(&self) -> Option<Inbound> {
        let mut rx = self.rx.lock().await;
        let mut closed = self.closed.subscribe();
        // After `close`, hand out the lines already read, then end.
        if !*closed.borrow_and_update() {
            tokio::select! {
                line = rx.recv() => return line,
                _ = closed.wait_for(|c| *c) => {}
            }
        }
        rx.close();
        rx.try_recv().ok()
    }

    async fn send(&self, reply: &Outbound) -> Result<(), SendError> {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(out, "{}\n", reply.text)
            .and_then(|_| out.flush())
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::BrokenPipe => SendError::Permanent("stdout is closed".into()),
                _ => SendError::Transient(e.to_string()),
            })
    }

    fn close(&self) {
        self.closed.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], cap: usize) -> Vec<Inbound> {
        let (tx, mut rx) = mpsc::channel(64);
        read_lines(input, cap, &tx);
        drop(tx);
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            out.push(m);
        }
        out
    }

    #[test]
    fn one_message_per_line_numbered() {
        let got = lines(b"hello\r\n\nworld", 100);
        let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["hello", "", "world"]);
        let (run, line) = got[2].key.id.split_once('.').expect("run.line");
        assert_eq!(line, "3");
        assert_eq!(got[0].key.id.split_once('.').map(|p| p.0), Some(run));
        assert!(got.iter().all(|m| m.truncated.is_none()));
    }

    #[test]
    fn long_lines_are_cut_and_flagged_and_the_next_line_survives() {
        let mut input = "é".repeat(100).into_bytes(); // 200 bytes
        input.extend_from_slice(b"\nnext\n");
        let got = lines(&input, 51);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].truncated, Some(200));
        assert_eq!(got[0].text, "é".repeat(25));
        assert_eq!(got[1].text, "next");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let got = lines(b"ab\xff\xfecd\n", 100);
        assert_eq!(got[0].text, "ab\u{fffd}\u{fffd}cd");
    }
}
