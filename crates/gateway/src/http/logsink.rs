//! Where log lines go: stdout, in batches.
//!
//! One `write` system call per request line cost about 6 % of a core at
//! 60k requests/s (plus the file system's work per call). Lines are appended
//! to one buffer instead and written when it holds [`BATCH_BYTES`], or by a
//! background thread at most [`FLUSH_EVERY`] after a line was logged, and by
//! [`LogSink::flush`] before exit. Order is kept: every write to stdout happens
//! under the buffer's lock.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// A batch is written once it reaches this size.
pub const BATCH_BYTES: usize = 64 * 1024;
/// The longest a logged line waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Where a batch goes.
type Output = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// A buffered, batched stdout for the `fmt` subscriber.
#[derive(Clone)]
pub struct LogSink {
    buf: Arc<Mutex<Vec<u8>>>,
    /// Where batches go; stdout in the binary, a buffer in tests.
    out: Output,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink")
            .field("buffered", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl LogSink {
    /// A sink writing batches with `out` (no background flusher; see
    /// [`LogSink::start_flusher`]).
    pub fn new(out: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        LogSink {
            buf: Arc::new(Mutex::new(Vec::with_capacity(BATCH_BYTES))),
            out: Arc::new(out),
        }
    }

    /// The process's stdout sink, with its flusher thread started.
    pub fn stdout() -> &'static LogSink {
        static SINK: OnceLock<LogSink> = OnceLock::new();
        SINK.get_or_init(|| {
            // A closed stdout (a supervisor that stopped reading) must not
            // panic the server: write errors are dropped.
            let sink = LogSink::new(|batch| {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(batch);
                let _ = out.flush();
            });
            sink.start_flusher();
            sink
        })
    }

    /// Writes what is buffered now.
    pub fn flush(&self) {
        let mut buf = self.lock();
        if !buf.is_empty() {
            (self.out)(&buf);
            buf.clear();
        }
    }

    /// Starts the thread that writes lines left in the buffer.
    pub fn start_flusher(&self) {
        let sink = self.clone();
        let _ = std::thread::Builder::new()
            .name("isogate-log".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(FLUSH_EVERY);
                    sink.flush();
                }
            });
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves whole lines behind: keep going.
        self.buf.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends whole lines (written in order with every other line).
    pub fn append(&self, line: &[u8]) {
        let mut buf = self.lock();
        buf.extend_from_slice(line);
        if buf.len() >= BATCH_BYTES {
            (self.out)(&buf);
            buf.clear();
        }
    }
}

/// What the subscriber writes one formatted event to.
#[derive(Debug)]
pub struct SinkWriter<'a>(&'a LogSink);

impl Write for SinkWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.append(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = SinkWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        SinkWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture() -> (LogSink, Arc<Mutex<Vec<Vec<u8>>>>) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let sink = LogSink::new(move |b| seen.lock().unwrap().push(b.to_vec()));
        (sink, batches)
    }

    #[test]
    fn lines_wait_for_a_full_batch_or_a_flush_and_keep_their_order() {
        let (sink, batches) = capture();
        let line = format!("{}\n", "x".repeat(99));
        let mut w = sink.make_writer();
        for _ in 0..(BATCH_BYTES / line.len()) {
            w.write_all(line.as_bytes()).unwrap();
        }
        assert!(batches.lock().unwrap().is_empty(), "no batch before 64 KiB");
        w.write_all(line.as_bytes()).unwrap();
        assert_eq!(batches.lock().unwrap().len(), 1, "one write per full batch");
        w.write_all(b"last\n").unwrap();
        sink.flush();
        let all: Vec<u8> = batches.lock().unwrap().concat();
        let expected = line.repeat(BATCH_BYTES / line.len() + 1) + "last\n";
        assert_eq!(all, expected.as_bytes());
        sink.flush();
        assert_eq!(
            batches.lock().unwrap().len(),
            2,
            "an empty buffer writes nothing"
        );
    }

    #[test]
    fn the_flusher_writes_a_lone_line_soon() {
        let (sink, batches) = capture();
        sink.start_flusher();
        sink.make_writer().write_all(b"alone\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while batches.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(batches.lock().unwrap().concat(), b"alone\n");
    }
}
