//! Where log lines go: stdout, in batches, written off the request path.
//!
//! One `write` system call per request line cost about 6 % of a core at
//! 60k requests/s (plus the file system's work per call). Lines are appended
//! to one buffer instead; a background thread writes it when it holds
//! [`BATCH_BYTES`] (woken at once) or at most [`FLUSH_EVERY`] after a line was
//! logged, and [`LogSink::flush`] before exit. Order is kept: batches are
//! taken out of the buffer and written under one writer lock.
//!
//! A worker never writes stdout itself: a stalled stdout (a supervisor that
//! stopped reading the pipe) stalls only the writer thread. Lines logged
//! meanwhile wait in the buffer up to [`MAX_BUFFERED`]; past it they are
//! dropped and counted ([`LogSink::dropped`], `isogate_log_lines_dropped_total`),
//! as `tracing-appender`'s lossy non-blocking writer does, rather than
//! holding memory or a request.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// A batch is written once it reaches this size.
pub const BATCH_BYTES: usize = 64 * 1024;
/// The longest a logged line waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// What may wait in the buffer while stdout does not take it.
pub const MAX_BUFFERED: usize = 8 * 1024 * 1024;

/// Where a batch goes.
type Output = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// A buffered, batched stdout for the `fmt` subscriber.
#[derive(Clone)]
pub struct LogSink {
    inner: Arc<Inner>,
}

struct Inner {
    buf: Mutex<Vec<u8>>,
    /// Held while a batch is written, so batches leave in order.
    writing: Mutex<Vec<u8>>,
    /// Where batches go; stdout in the binary, a buffer in tests.
    out: Output,
    /// The writer thread, woken when a batch is full.
    writer: OnceLock<Thread>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink")
            .field("buffered", &self.lock().len())
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl LogSink {
    /// A sink writing batches with `out`, its writer thread started.
    pub fn new(out: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        let sink = LogSink {
            inner: Arc::new(Inner {
                buf: Mutex::new(Vec::with_capacity(BATCH_BYTES)),
                writing: Mutex::new(Vec::with_capacity(BATCH_BYTES)),
                out: Arc::new(out),
                writer: OnceLock::new(),
                dropped: AtomicU64::new(0),
            }),
        };
        sink.start_writer();
        sink
    }

    /// The process's stdout sink.
    pub fn stdout() -> &'static LogSink {
        static SINK: OnceLock<LogSink> = OnceLock::new();
        SINK.get_or_init(|| {
            // A closed stdout (a supervisor that stopped reading) must not
            // panic the server: write errors are dropped.
            LogSink::new(|batch| {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(batch);
                let _ = out.flush();
            })
        })
    }

    /// Writes what is buffered now (blocks while stdout does).
    pub fn flush(&self) {
        let mut spare = self.inner.writing.lock().unwrap_or_else(|e| e.into_inner());
        // Take the batch out under the buffer's lock (a swap), write it
        // outside it: appends never wait for stdout.
        std::mem::swap(&mut *self.lock(), &mut *spare);
        if !spare.is_empty() {
            (self.inner.out)(&spare);
            spare.clear();
        }
        // A batch that grew huge while stdout stalled is not kept.
        spare.shrink_to(BATCH_BYTES);
    }

    fn start_writer(&self) {
        // Weak: a dropped sink (tests) ends its thread.
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("isogate-log".into())
            .spawn(move || {
                loop {
                    std::thread::park_timeout(FLUSH_EVERY);
                    let Some(inner) = weak.upgrade() else { return };
                    LogSink { inner }.flush();
                }
            });
        if let Ok(handle) = spawned {
            let _ = self.inner.writer.set(handle.thread().clone());
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves whole lines behind: keep going.
        self.inner.buf.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends whole lines (written in order with every other line); never
    /// blocks on stdout.
    pub fn append(&self, line: &[u8]) {
        let mut buf = self.lock();
        if buf.len() + line.len() > MAX_BUFFERED {
            drop(buf);
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("isogate_log_lines_dropped_total").increment(1);
            return;
        }
        buf.extend_from_slice(line);
        let full = buf.len() >= BATCH_BYTES;
        drop(buf);
        if full && let Some(writer) = self.inner.writer.get() {
            writer.unpark();
        }
    }

    /// Lines dropped because stdout did not take them in time.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
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

    type Batches = Arc<Mutex<Vec<Vec<u8>>>>;

    fn capture() -> (LogSink, Batches) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let sink = LogSink::new(move |b| seen.lock().unwrap().push(b.to_vec()));
        (sink, batches)
    }

    fn wait_for(what: impl Fn() -> bool) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !what() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    #[test]
    fn lines_leave_in_batches_and_keep_their_order() {
        let (sink, batches) = capture();
        let line = format!("{}\n", "x".repeat(99));
        let mut w = sink.make_writer();
        let n = 3 * BATCH_BYTES / line.len();
        for _ in 0..n {
            w.write_all(line.as_bytes()).unwrap();
        }
        w.write_all(b"last\n").unwrap();
        sink.flush();
        let all: Vec<u8> = batches.lock().unwrap().concat();
        let expected = line.repeat(n) + "last\n";
        assert_eq!(all, expected.as_bytes());
        let writes = batches.lock().unwrap().len();
        assert!(
            writes < n / 10,
            "{writes} writes for {n} lines: not batched"
        );
        sink.flush();
        assert_eq!(
            batches.lock().unwrap().len(),
            writes,
            "an empty buffer writes nothing"
        );
    }

    #[test]
    fn the_writer_writes_a_lone_line_soon() {
        let (sink, batches) = capture();
        sink.make_writer().write_all(b"alone\n").unwrap();
        assert!(wait_for(|| !batches.lock().unwrap().is_empty()));
        assert_eq!(batches.lock().unwrap().concat(), b"alone\n");
    }

    #[test]
    fn a_stalled_stdout_blocks_no_logger_and_drops_past_the_bound() {
        // `out` blocks until released, as a pipe nobody reads.
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let written = Arc::new(AtomicU64::new(0));
        let (g, w) = (gate.clone(), written.clone());
        let sink = LogSink::new(move |batch| {
            let (open, cv) = &*g;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            w.fetch_add(
                batch.iter().filter(|b| **b == b'\n').count() as u64,
                Ordering::SeqCst,
            );
        });
        let line = format!("{}\n", "y".repeat(1023));
        // More than MAX_BUFFERED, from another thread, while stdout is stuck.
        let lines = 2 * MAX_BUFFERED / line.len();
        let logger = {
            let sink = sink.clone();
            let line = line.clone();
            std::thread::spawn(move || {
                for _ in 0..lines {
                    sink.append(line.as_bytes());
                }
            })
        };
        let done = wait_for(|| logger.is_finished());
        assert!(done, "a logger blocked on a stalled stdout");
        assert!(sink.dropped() > 0, "nothing dropped past the bound");
        let (open, cv) = &*gate;
        *open.lock().unwrap() = true;
        cv.notify_all();
        sink.flush();
        let total = written.load(Ordering::SeqCst) + sink.dropped();
        assert_eq!(
            total, lines as u64,
            "every line written or counted as dropped"
        );
    }
}
