//! Thread-per-core serving (`[server] runtime = "per-core"`): one
//! single-threaded Tokio runtime per serving thread, each client connection
//! handed to one of them when it is accepted.
//!
//! Under the work-stealing runtime a request is a relay: the client
//! connection's task, the upstream connection's readiness, the books'
//! writer and the runtime's own idle workers, each woken on whichever
//! thread was free, and a parked worker woken to look for work each time
//! one thread found some (bench/README.md, "Where c=1's wake-ups come
//! from"). Here a connection is registered with its thread's reactor, its
//! requests run on that thread to the end, and the upstream connections a
//! thread opens stay in its own lane of the pool
//! ([`tollgate_transport::set_connection_lane`]), so nothing on a request's
//! way wakes another serving thread.
//!
//! The accept loop itself, with the connection cap and the drain, stays on
//! the caller's runtime; it picks the thread with the fewest open
//! connections, so a burst of connections is spread evenly rather than as
//! the kernel's hash of their ports falls (what `SO_REUSEPORT` listeners
//! would do).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// The serving threads.
pub(crate) struct Workers {
    workers: Vec<Worker>,
}

/// Run on a serving thread, inside its runtime: spawns a connection's task
/// there.
type Job = Box<dyn FnOnce() + Send>;

struct Worker {
    /// Jobs for the thread. The connection's task is spawned by the thread
    /// itself, so the task (the connection's largest allocation) comes
    /// from that thread's allocator heap: spawned from the accept loop's
    /// thread, each idle connection held about 2 KB more (bench/README.md).
    jobs: mpsc::UnboundedSender<Job>,
    /// Connections handed to it and not yet ended.
    open: Arc<AtomicUsize>,
    /// Dropped to stop the thread: its runtime is then dropped, which
    /// ends every task still on it.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Workers {
    /// Starts `threads` serving threads (at least one), named
    /// `tollgate-w<N>`.
    pub(crate) fn start(threads: usize) -> std::io::Result<Workers> {
        let mut workers = Vec::with_capacity(threads.max(1));
        for i in 0..threads.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (jobs, mut queued) = mpsc::unbounded_channel::<Job>();
            let (stop, stopped) = oneshot::channel::<()>();
            // Lane 0 is every other thread's (the caller's runtime, the
            // blocking pool): each serving thread gets one of its own.
            let lane = u16::try_from(i + 1).unwrap_or(u16::MAX);
            let thread = std::thread::Builder::new()
                .name(format!("tollgate-w{i}"))
                .spawn(move || {
                    tollgate_transport::set_connection_lane(lane);
                    // Serves the connections handed over until told to
                    // stop; whatever is still running then is dropped
                    // with the runtime, here on its own thread.
                    runtime.block_on(async move {
                        tokio::select! {
                            _ = stopped => {}
                            () = async {
                                while let Some(job) = queued.recv().await {
                                    job();
                                }
                            } => {}
                            () = pace() => {}
                        }
                    });
                })?;
            workers.push(Worker {
                jobs,
                open: Arc::new(AtomicUsize::new(0)),
                stop: Some(stop),
                thread: Some(thread),
            });
        }
        Ok(Workers { workers })
    }

    /// How many serving threads there are.
    pub(crate) fn len(&self) -> usize {
        self.workers.len()
    }

    /// Runs the future `connection` makes on the thread with the fewest
    /// open connections (the first of them on a tie). It is made and first
    /// polled there, so a socket it registers belongs to that thread's
    /// reactor.
    pub(crate) fn spawn<M, F>(&self, connection: M)
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(worker) = self
            .workers
            .iter()
            .min_by_key(|w| w.open.load(Ordering::Relaxed))
        else {
            return;
        };
        worker.open.fetch_add(1, Ordering::Relaxed);
        let open = Open(Arc::clone(&worker.open));
        // A thread that has stopped drops the job, and with it the count.
        let _ = worker.jobs.send(Box::new(move || {
            tokio::spawn(async move {
                let _open = open;
                connection().await;
            });
        }));
    }

    /// Open connections per thread, in thread order.
    #[cfg(test)]
    pub(crate) fn open(&self) -> Vec<usize> {
        self.workers
            .iter()
            .map(|w| w.open.load(Ordering::Relaxed))
            .collect()
    }

    /// Stops every thread and waits for them to end: the connections still
    /// open are closed and their requests' tasks dropped.
    pub(crate) async fn stop(mut self) {
        let threads: Vec<JoinHandle<()>> = self
            .workers
            .iter_mut()
            .filter_map(|w| {
                w.stop.take();
                w.thread.take()
            })
            .collect();
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

impl Drop for Workers {
    /// Stopped without waiting, if [`Workers::stop`] was not called.
    fn drop(&mut self) {
        for w in &mut self.workers {
            w.stop.take();
        }
    }
}

/// How often a serving thread's [`pace`] timer fires.
const PACE: Duration = Duration::from_secs(1);

/// Keeps a timer due within [`PACE`] on the runtime it runs on, always (on
/// each serving thread's; on the work-stealing runtime, once for all).
///
/// Tokio's timer wheel writes to the runtime's eventfd (a `write` system
/// call, and a wake-up of the next `epoll_wait`) whenever a timer is set
/// to fire before every timer the driver last went to sleep with, even
/// from the runtime's own thread while it runs. With no timer pending,
/// that was every request at low load: hyper's head-read timeout for the
/// connection's next request, the upstream call's timeouts. With this
/// timer pending, a request's timers (seconds away) fire after it and set
/// nothing off; the cost is one wake-up a second on an idle thread.
pub(crate) async fn pace() {
    let mut tick = tokio::time::interval(PACE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// Counts a connection open on its thread until the connection's task ends
/// (or is dropped).
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name of the thread a spawned connection ran on, once it runs.
    fn thread_of(workers: &Workers) -> oneshot::Receiver<String> {
        let (tx, rx) = oneshot::channel();
        workers.spawn(move || async move {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            let _ = tx.send(name);
        });
        rx
    }

    #[tokio::test]
    async fn connections_go_to_the_thread_with_the_fewest_open() {
        let workers = Workers::start(2).unwrap();
        assert_eq!(workers.len(), 2);
        // Two held open: one on each thread.
        let (hold_a, held_a) = oneshot::channel::<()>();
        let (hold_b, held_b) = oneshot::channel::<()>();
        let (ran_a, on_a) = oneshot::channel();
        let (ran_b, on_b) = oneshot::channel();
        for (held, ran) in [(held_a, ran_a), (held_b, ran_b)] {
            workers.spawn(move || async move {
                let _ = ran.send(std::thread::current().name().unwrap_or("").to_owned());
                let _ = held.await;
            });
        }
        let (a, b) = (on_a.await.unwrap(), on_b.await.unwrap());
        assert_ne!(a, b, "the second connection went to the idle thread");
        assert!(a.starts_with("tollgate-w") && b.starts_with("tollgate-w"));
        assert_eq!(workers.open(), vec![1, 1]);
        // Thread 0's connection ends: the next one goes there.
        drop(hold_a);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while workers.open() != vec![0, 1] {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                workers.open()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(thread_of(&workers).await.unwrap(), a);
        drop(hold_b);
        workers.stop().await;
    }

    #[tokio::test]
    async fn stopping_ends_the_threads_and_drops_what_still_runs() {
        let workers = Workers::start(2).unwrap();
        let (dropped_tx, dropped) = oneshot::channel::<()>();
        struct OnDrop(Option<oneshot::Sender<()>>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                if let Some(tx) = self.0.take() {
                    let _ = tx.send(());
                }
            }
        }
        let guard = OnDrop(Some(dropped_tx));
        workers.spawn(move || async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        tokio::time::timeout(Duration::from_secs(5), workers.stop())
            .await
            .expect("the threads end");
        tokio::time::timeout(Duration::from_secs(1), dropped)
            .await
            .expect("the pending connection was dropped")
            .unwrap();
    }
}
