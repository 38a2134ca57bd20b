//! Stopping a run early: a signal (SIGINT, SIGTERM) or a failing step asks every step to stop
//! taking new rows; work in flight finishes within a bounded wait, and what reached the leaves
//! is written as a partial Distiset.
//!
//! Signals are caught only while a run is going on: with no run, they have their default
//! effect. The first one stops the runs; a second one ends the process at once (the caches
//! stay consistent: every file they hold is written atomically).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A signal, by name.
    Signal(&'static str),
    /// A step failed; the run ends with its error.
    Failure,
}

#[derive(Default)]
struct State {
    stopped: AtomicBool,
    cause: Mutex<Option<Cause>>,
    notify: Notify,
}

/// A run's stop flag, shared by its steps.
#[derive(Clone, Default)]
pub(crate) struct Stop(Arc<State>);

impl Stop {
    /// Asks the run to stop; the first cause is kept.
    pub(crate) fn stop(&self, cause: Cause) {
        let mut kept = self.0.cause.lock().unwrap_or_else(|p| p.into_inner());
        kept.get_or_insert(cause);
        drop(kept);
        self.0.stopped.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    /// Whether a signal asked the run to stop: work queued is then left for the rerun, where
    /// after a failure it is finished (only the generators stop).
    pub(crate) fn is_interrupted(&self) -> bool {
        matches!(self.cause(), Some(Cause::Signal(_)))
    }

    pub(crate) fn cause(&self) -> Option<Cause> {
        self.0
            .cause
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Completes once the run is asked to stop.
    pub(crate) async fn stopped(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }
}

/// Signals received while runs were going on (the handler only counts: it must stay
/// async-signal-safe).
static SIGNALS: AtomicU64 = AtomicU64::new(0);
/// The last signal's number.
static LAST_SIGNAL: AtomicUsize = AtomicUsize::new(0);
/// Runs going on that catch signals.
static WATCHING: AtomicUsize = AtomicUsize::new(0);

/// While alive, the first SIGINT or SIGTERM stops the run; dropped when the run ends.
pub(crate) struct SignalWatch {
    task: tokio::task::JoinHandle<()>,
}

impl SignalWatch {
    /// Catches SIGINT and SIGTERM for this run.
    pub(crate) fn start(stop: Stop) -> Self {
        install();
        WATCHING.fetch_add(1, Ordering::SeqCst);
        let seen = SIGNALS.load(Ordering::SeqCst);
        let task = tokio::spawn(async move {
            // The handler cannot wake a task; a short poll is cheap and bounds the delay.
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tick.tick().await;
                if SIGNALS.load(Ordering::SeqCst) > seen {
                    let name = signal_name(LAST_SIGNAL.load(Ordering::SeqCst));
                    eprintln!(
                        "distil: {name} received: finishing the requests in flight and \
                         writing what is done (send it again to exit at once)"
                    );
                    stop.stop(Cause::Signal(name));
                    return;
                }
            }
        });
        SignalWatch { task }
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        self.task.abort();
        if WATCHING.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The next run's first signal stops it gracefully again.
            SIGNALS.store(0, Ordering::SeqCst);
        }
    }
}

fn signal_name(signal: usize) -> &'static str {
    #[cfg(unix)]
    if signal == signal_hook::consts::SIGTERM as usize {
        return "SIGTERM";
    }
    let _ = signal;
    "SIGINT"
}

/// Registers the handlers once per process.
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // SAFETY: the handler only touches atomics and calls async-signal-safe functions.
            let registered =
                unsafe { signal_hook::low_level::register(signal, move || on_signal(signal)) };
            if let Err(e) = registered {
                tracing::warn!("cannot catch signal {signal}: {e}");
            }
        }
    });
}

fn on_signal(signal: i32) {
    if WATCHING.load(Ordering::SeqCst) == 0 {
        // No run: what the signal would have done without distil.
        let _ = signal_hook::low_level::emulate_default_handler(signal);
        return;
    }
    LAST_SIGNAL.store(signal as usize, Ordering::SeqCst);
    if SIGNALS.fetch_add(1, Ordering::SeqCst) > 0 {
        // The second signal: the user wants out now.
        signal_hook::low_level::exit(128 + signal);
    }
}
