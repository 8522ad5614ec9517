//! Where log lines go: stderr, written by a thread of their own, in
//! batches gathered over a short window.
//!
//! A request formats its access line and appends it to a shared buffer;
//! the log thread writes the buffer out in one `write`. The thread is woken
//! by the first line into an empty buffer and then gathers for [`GATHER`]
//! before it writes, so a gateway serving thousands of requests a second
//! wakes it a few dozen times a second, not once per request. (A channel
//! per line, as `tracing-appender`'s, woke it per line whenever it had
//! caught up: at c=1 that was a futex wake on the request's thread and
//! about 34 µs of the log thread's CPU per request, bench/README.md.)
//!
//! Not lossy: past [`BACKLOG`] bytes not yet written (stderr slower than
//! the lines), a writer waits for the thread rather than lines being
//! dropped. Dropping the [`Guard`] writes what is buffered and ends the
//! thread, so the last lines reach stderr before the process exits; it
//! waits [`LAST_WRITE`] at most for a stderr that does not take them.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long the thread gathers lines after the first before writing them.
pub(crate) const GATHER: Duration = Duration::from_millis(20);
/// Bytes buffered past which the thread writes at once.
const EAGER: usize = 256 * 1024;
/// Bytes buffered past which writers wait for the thread.
const BACKLOG: usize = 16 * 1024 * 1024;

struct Shared {
    state: Mutex<State>,
    /// Rung for the thread: a first line, a full buffer, the end.
    wake: Condvar,
    /// Rung by the thread after each write, for writers waiting on the
    /// backlog.
    written: Condvar,
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    /// The thread waits for a first line (rather than gathering).
    idle: bool,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The writer handed to the log layer; cheap to clone.
#[derive(Clone)]
pub(crate) struct BatchedWriter {
    shared: Arc<Shared>,
}

/// Ends the log thread when dropped, after it has written every line.
pub(crate) struct Guard {
    shared: Arc<Shared>,
    /// Closed by the thread when it ends (its sender is dropped).
    ended: std::sync::mpsc::Receiver<()>,
}

/// The longest the [`Guard`] waits for the last lines to be written: a
/// stderr that blocks (a full pipe nobody reads) must not keep the
/// process from exiting.
const LAST_WRITE: Duration = Duration::from_secs(1);

/// Starts the log thread (`tollgated-log`) writing to `out`.
pub(crate) fn start<W: Write + Send + 'static>(out: W) -> io::Result<(BatchedWriter, Guard)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        wake: Condvar::new(),
        written: Condvar::new(),
    });
    let (ending, ended) = std::sync::mpsc::channel::<()>();
    {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(String::from("tollgated-log"))
            .spawn(move || {
                let _ending = ending;
                run(&shared, out, GATHER);
            })?;
    }
    Ok((
        BatchedWriter {
            shared: Arc::clone(&shared),
        },
        Guard { shared, ended },
    ))
}

/// The log thread: waits for a line, gathers for `gather`, writes.
fn run<W: Write>(shared: &Shared, mut out: W, gather: Duration) {
    let mut spare = Vec::new();
    loop {
        let mut state = shared.lock();
        while state.lines.is_empty() && !state.closed {
            state.idle = true;
            state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.idle = false;
        if !state.closed && state.lines.len() < EAGER {
            state = shared
                .wake
                .wait_timeout_while(state, gather, |s| !s.closed && s.lines.len() < EAGER)
                .map_or_else(|p| p.into_inner().0, |(s, _)| s);
        }
        let closed = state.closed;
        // The buffer's capacity is kept: the two swap places each round.
        std::mem::swap(&mut state.lines, &mut spare);
        drop(state);
        if !spare.is_empty() {
            // Nowhere to report a failing stderr; the lines are dropped.
            let _ = out.write_all(&spare).and_then(|()| out.flush());
            spare.clear();
        }
        shared.written.notify_all();
        if closed && shared.lock().lines.is_empty() {
            return;
        }
    }
}

impl Write for BatchedWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut state = self.shared.lock();
        while state.lines.len() >= BACKLOG && !state.closed {
            state = self
                .shared
                .written
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
        let first = state.lines.is_empty();
        state.lines.extend_from_slice(line);
        let ring = (first && state.idle) || state.lines.len() >= EAGER;
        drop(state);
        if ring {
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedWriter {
    type Writer = BatchedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        // Ends with an error once the thread has ended (or after the
        // deadline; its lines are then lost with the process).
        let _ = self.ended.recv_timeout(LAST_WRITE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read while the thread writes to it, counting
    /// the writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut s = self.0.lock().unwrap();
            s.0.extend_from_slice(buf);
            s.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_written_together_go_out_in_one_write_and_all_before_the_end() {
        let sink = Sink::default();
        let (writer, guard) = start(sink.clone()).unwrap();
        let mut threads = Vec::new();
        for t in 0..4 {
            let mut w = writer.clone();
            threads.push(std::thread::spawn(move || {
                for i in 0..250 {
                    w.write_all(format!("thread {t} line {i}\n").as_bytes())
                        .unwrap();
                }
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let (out, writes) = sink.0.lock().unwrap().clone();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1000, "every line, none lost");
        for t in 0..4 {
            // Each thread's lines whole and in its order.
            let mine: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            let want: Vec<String> = (0..250).map(|i| format!("thread {t} line {i}")).collect();
            assert_eq!(mine, want);
        }
        assert!(writes < 1000, "{writes} writes for 1000 lines");
    }

    #[test]
    fn lines_trickling_in_are_gathered_not_written_one_by_one() {
        let sink = Sink::default();
        let (mut writer, guard) = start(sink.clone()).unwrap();
        // 100 lines, one a millisecond or more apart: the thread finds
        // each alone when it has caught up, unless it gathers.
        for i in 0..100 {
            writer.write_all(format!("line {i}\n").as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(guard);
        let (out, writes) = sink.0.lock().unwrap().clone();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 100);
        assert!(writes < 50, "{writes} writes for 100 lines");
    }

    /// A stderr that never takes a write.
    struct Blocked;

    impl Write for Blocked {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(0)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_stderr_does_not_keep_the_process_from_ending() {
        let (mut writer, guard) = start(Blocked).unwrap();
        writer.write_all(b"stuck\n").unwrap();
        let started = std::time::Instant::now();
        drop(guard);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the guard waited {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_line_alone_is_written_within_the_window() {
        let sink = Sink::default();
        let (mut writer, _guard) = start(sink.clone()).unwrap();
        writer.write_all(b"one\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.0.lock().unwrap().0.is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sink.0.lock().unwrap().0, b"one\n");
    }
}
