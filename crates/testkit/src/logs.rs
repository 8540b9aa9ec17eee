//! Captures what the provider logs through `tracing` while the checks run,
//! so all#4 covers log lines too. Only lines holding a secret are kept.

use std::io;
use std::sync::{Arc, Mutex};

use tracing::Dispatch;

#[derive(Debug, Default)]
struct Seen {
    lines: u64,
    leaks: Vec<String>,
}

/// A `tracing` writer that counts lines and keeps the leaking ones, redacted.
#[derive(Clone, Debug)]
pub(crate) struct LogWatch {
    secrets: Arc<Vec<String>>,
    seen: Arc<Mutex<Seen>>,
}

impl LogWatch {
    pub(crate) fn new(secrets: Vec<String>) -> LogWatch {
        LogWatch {
            secrets: Arc::new(secrets),
            seen: Arc::default(),
        }
    }

    /// A dispatcher logging every level into this watch.
    pub(crate) fn dispatch(&self) -> Dispatch {
        let me = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || me.clone())
            .finish();
        Dispatch::new(subscriber)
    }

    /// Lines seen, and the leaking ones (secrets replaced).
    pub(crate) fn report(&self) -> (u64, Vec<String>) {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        (seen.lines, seen.leaks.clone())
    }
}

impl io::Write for LogWatch {
    // The formatter writes each event in one call, so a secret is never
    // split across two writes.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.lines += text.lines().count() as u64;
        if seen.leaks.len() < 5 && self.secrets.iter().any(|s| text.contains(s.as_str())) {
            let mut line = text.trim_end().to_owned();
            for s in self.secrets.iter() {
                line = line.replace(s.as_str(), "<secret>");
            }
            seen.leaks.push(line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
