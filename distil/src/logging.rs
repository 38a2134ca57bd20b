//! A tracing subscriber for programs built on distil (feature `logging`).
//!
//! The library only emits `tracing` events and installs nothing global; a program (an example,
//! the `distil` command) calls [`init`] once at start to see them on stderr.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs a subscriber writing to stderr, filtered by `RUST_LOG` (as
/// `RUST_LOG=distil=debug` or `RUST_LOG=trace`; `warn` when unset or invalid). Does nothing
/// when the program already installed one.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a terminal, plain text for a file or a pipe.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
