//! Stopping a run early: a signal (SIGINT, SIGTERM) or a failing step asks every step to stop
//! taking new rows; work in flight finishes within a bounded wait, and what reached the leaves
//! is written as a partial Distiset.
//!
//! Signals are caught only while a run is going on: with no run, they have their default
//! effect. The first one stops the runs; a second one ends the process at once (the caches
//! stay consistent: every file they hold is written atomically).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

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

/// A run that catches signals: its stop flag, and the signals counted when it started.
struct Watched {
    id: u64,
    stop: Stop,
    seen: u64,
}

/// The runs going on that catch signals, for the relay thread to stop.
static WATCHED: Mutex<Vec<Watched>> = Mutex::new(Vec::new());

/// While alive, the first SIGINT or SIGTERM stops the run; dropped when the run ends.
pub(crate) struct SignalWatch {
    id: u64,
}

impl SignalWatch {
    /// Catches SIGINT and SIGTERM for this run.
    pub(crate) fn start(stop: Stop) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        install();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let mut watched = WATCHED.lock().unwrap_or_else(|p| p.into_inner());
        WATCHING.fetch_add(1, Ordering::SeqCst);
        watched.push(Watched {
            id,
            stop,
            seen: SIGNALS.load(Ordering::SeqCst),
        });
        SignalWatch { id }
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        let mut watched = WATCHED.lock().unwrap_or_else(|p| p.into_inner());
        watched.retain(|w| w.id != self.id);
        if WATCHING.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The next run's first signal stops it gracefully again.
            SIGNALS.store(0, Ordering::SeqCst);
        }
    }
}

/// Stops the watched runs that a signal reached since they started.
fn relay_signals() {
    let signals = SIGNALS.load(Ordering::SeqCst);
    let watched = WATCHED.lock().unwrap_or_else(|p| p.into_inner());
    let reached: Vec<&Watched> = watched
        .iter()
        .filter(|w| w.seen < signals && !w.stop.is_stopped())
        .collect();
    if reached.is_empty() {
        return;
    }
    let name = signal_name(LAST_SIGNAL.load(Ordering::SeqCst));
    eprintln!(
        "distil: {name} received: finishing the requests in flight and writing what is done \
         (send it again to exit at once)"
    );
    for run in reached {
        run.stop.stop(Cause::Signal(name));
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

/// Registers the handlers once per process, and starts the thread that stops the runs: the
/// handler itself may only count and write to a pipe.
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
        if let Err(e) = start_relay() {
            tracing::warn!("cannot watch for signals: {e}");
        }
    });
}

/// The relay wakes on each signal (a byte written to a pipe after the counting handler ran),
/// so that a run waiting on its LLM costs no wake-ups while no signal comes.
#[cfg(unix)]
fn start_relay() -> std::io::Result<()> {
    use std::io::Read;
    let (mut wake, written) = std::os::unix::net::UnixStream::pair()?;
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered after the counting handler, so it runs after it.
        signal_hook::low_level::pipe::register(signal, written.try_clone()?)?;
    }
    std::thread::Builder::new()
        .name("distil-signals".into())
        .spawn(move || {
            let mut bytes = [0u8; 16];
            loop {
                match wake.read(&mut bytes) {
                    Ok(0) => return,
                    Ok(_) => relay_signals(),
                    // The signal itself may interrupt this read: what it counted is relayed.
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => relay_signals(),
                    Err(_) => return,
                }
            }
        })?;
    Ok(())
}

/// Without pipes for the handler to write to, the relay looks every 20 ms.
#[cfg(not(unix))]
fn start_relay() -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("distil-signals".into())
        .spawn(|| {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(20));
                relay_signals();
            }
        })?;
    Ok(())
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
