//! The progress line of a run: one line per running step on stderr, redrawn a few times a
//! second, e.g. `generate  [=====>     ]  1,234/5,000 rows  412 rows/s  3 errors  ETA 9s`.
//!
//! The executor counts rows per batch into an atomic counter per step ([`StepCounter`]); a
//! ticker thread reads the counters and redraws, so a row costs nothing and a busy runtime
//! (or one without a timer) does not stop the line. A step's total is known once all of its
//! predecessors have finished (the rows they sent); a step that is the target of a router has
//! none. Finished steps leave the display; the display is cleared when the run ends, whether it
//! succeeded or not.
//!
//! Shown by default when stderr is a terminal and the program is not a test or a benchmark
//! built by cargo; [`RunOptions::progress`](super::RunOptions::progress) forces it on or off.
//! Without the `progress` feature every function here does nothing.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Where an injected progress display is drawn (see
/// [`RunOptions::progress_to`](super::RunOptions::progress_to)).
#[derive(Clone)]
pub(crate) struct ProgressWriter(pub(crate) Arc<Mutex<dyn Write + Send>>);

impl std::fmt::Debug for ProgressWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressWriter")
    }
}

#[cfg(feature = "progress")]
pub(crate) use enabled::{Progress, StepCounter};

#[cfg(not(feature = "progress"))]
pub(crate) use disabled::{Progress, StepCounter};

#[cfg(not(feature = "progress"))]
mod disabled {
    use super::super::{Pipeline, RunOptions};
    use crate::pipeline::run::run_log::RunLog;

    /// Nothing to show without the `progress` feature.
    pub(crate) struct Progress;

    /// Counts nothing without the `progress` feature.
    pub(crate) struct StepCounter;

    impl Progress {
        pub(crate) fn start(_: &Pipeline, _: &[usize], options: &RunOptions, _: &RunLog) -> Self {
            let _ = (
                options.progress,
                options.progress_writer.as_ref().map(|w| &w.0),
            );
            Progress
        }

        pub(crate) fn counter(&self, _step: usize) -> StepCounter {
            StepCounter
        }
    }

    impl StepCounter {
        #[inline(always)]
        pub(crate) fn rows(&self, _: usize) {}

        #[inline(always)]
        pub(crate) fn done(&self) {}
    }
}

#[cfg(feature = "progress")]
mod enabled {
    use std::collections::VecDeque;
    use std::io::IsTerminal;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, mpsc};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

    use super::super::{Pipeline, RunOptions};
    use super::ProgressWriter;
    use crate::pipeline::run::run_log::RunLog;
    use crate::step::StepKind;

    /// How often the display is redrawn.
    const TICK: Duration = Duration::from_millis(200);
    /// The span over which the rate is measured.
    const RATE_WINDOW: Duration = Duration::from_secs(5);
    /// Lines at most; the steps beyond are summed up in one more line.
    const MAX_LINES: usize = 12;
    /// Width of the bar of a step whose total is known.
    const BAR_WIDTH: usize = 20;
    /// Width of an injected writer, as a terminal.
    const WRITER_WIDTH: u16 = 100;

    /// A step's counters, written by its task, read by the ticker.
    #[derive(Default)]
    struct Counts {
        rows: AtomicU64,
        done: AtomicBool,
    }

    /// The executor's handle on one step's counters: a no-op when the display is off.
    pub(crate) struct StepCounter(Option<Arc<Counts>>);

    impl StepCounter {
        /// `n` more rows sent on (once per batch).
        #[inline]
        pub(crate) fn rows(&self, n: usize) {
            if let Some(counts) = &self.0 {
                counts.rows.fetch_add(n as u64, Ordering::Relaxed);
            }
        }

        /// The step has sent its last batch.
        #[inline]
        pub(crate) fn done(&self) {
            if let Some(counts) = &self.0 {
                counts.done.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The display of a run: cleared and stopped when dropped.
    pub(crate) struct Progress {
        counts: Vec<Arc<Counts>>,
        /// Dropped to stop the ticker.
        stop: Option<mpsc::Sender<()>>,
        ticker: Option<JoinHandle<()>>,
    }

    /// What the ticker knows of a step.
    struct Line {
        name: String,
        counts: Arc<Counts>,
        /// Steps whose rows make this step's total (none for a generator).
        predecessors: Vec<usize>,
        /// A router picks which batches reach this step: no total.
        routed: bool,
        /// `(when, rows)` samples over the last [`RATE_WINDOW`].
        samples: VecDeque<(Instant, u64)>,
        /// The step's own live status, shown after its rows.
        status: Option<crate::step::Status>,
    }

    impl Progress {
        /// Starts the display of a run of `pipeline` (steps in `order`) if it is on.
        pub(crate) fn start(
            pipeline: &Pipeline,
            order: &[usize],
            options: &RunOptions,
            log: &RunLog,
        ) -> Self {
            let n = pipeline.nodes.len();
            let off = Progress {
                counts: Vec::new(),
                stop: None,
                ticker: None,
            };
            if options.dry_run {
                return off;
            }
            let target = match (options.progress, &options.progress_writer) {
                (Some(false), _) => return off,
                (_, Some(writer)) => {
                    ProgressDrawTarget::term_like_with_hz(Box::new(WriterTerm(writer.clone())), 20)
                }
                (Some(true), None) if std::io::stderr().is_terminal() => {
                    ProgressDrawTarget::stderr_with_hz(20)
                }
                (Some(true), None) => ProgressDrawTarget::term_like_with_hz(
                    Box::new(WriterTerm(ProgressWriter(Arc::new(std::sync::Mutex::new(
                        std::io::stderr(),
                    ))))),
                    20,
                ),
                (None, None) if std::io::stderr().is_terminal() && !under_cargo_test() => {
                    ProgressDrawTarget::stderr_with_hz(20)
                }
                (None, None) => return off,
            };
            let counts: Vec<Arc<Counts>> = (0..n).map(|_| Arc::default()).collect();
            let routed: Vec<usize> = pipeline
                .routes
                .iter()
                .flat_map(|r| r.targets.iter().copied())
                .collect();
            let lines: Vec<Line> = order
                .iter()
                .map(|&s| Line {
                    name: pipeline.nodes[s].name.clone(),
                    counts: counts[s].clone(),
                    predecessors: if pipeline.nodes[s].spec.kind == StepKind::Generator {
                        Vec::new()
                    } else {
                        pipeline
                            .edges
                            .iter()
                            .filter(|&&(_, to)| to == s)
                            .map(|&(from, _)| from)
                            .collect()
                    },
                    routed: routed.contains(&s),
                    samples: VecDeque::new(),
                    status: pipeline.nodes[s]
                        .step
                        .as_ref()
                        .and_then(|step| step.status()),
                })
                .collect();
            let (stop, stopped) = mpsc::channel();
            let ticker = Ticker {
                bar: ProgressBar::with_draw_target(None, target)
                    .with_style(ProgressStyle::with_template("{msg}").expect("a valid template")),
                lines,
                counts: counts.clone(),
                log: log.clone(),
                width: pipeline
                    .nodes
                    .iter()
                    .map(|n| n.name.chars().count())
                    .max()
                    .unwrap_or(0)
                    .min(24),
            };
            let ticker = std::thread::Builder::new()
                .name("distil-progress".to_owned())
                .spawn(move || ticker.run(stopped))
                .ok();
            Progress {
                counts,
                stop: Some(stop),
                ticker,
            }
        }

        /// The counter of step `step` (its index in the pipeline).
        pub(crate) fn counter(&self, step: usize) -> StepCounter {
            StepCounter(self.counts.get(step).cloned())
        }
    }

    impl Drop for Progress {
        fn drop(&mut self) {
            drop(self.stop.take());
            if let Some(ticker) = self.ticker.take() {
                let _ = ticker.join();
            }
        }
    }

    /// Whether this is a test or a benchmark binary that cargo built (they live in `deps/`),
    /// whose output should not carry a progress display unless asked for.
    fn under_cargo_test() -> bool {
        std::env::current_exe()
            .ok()
            .and_then(|exe| {
                exe.parent()
                    .and_then(|dir| dir.file_name())
                    .map(|dir| dir == "deps")
            })
            .unwrap_or(false)
    }

    struct Ticker {
        bar: ProgressBar,
        lines: Vec<Line>,
        counts: Vec<Arc<Counts>>,
        log: RunLog,
        width: usize,
    }

    impl Ticker {
        fn run(mut self, stopped: mpsc::Receiver<()>) {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                let text = self.render(Instant::now());
                self.bar.set_message(text);
            }
            self.bar.finish_and_clear();
        }

        fn render(&mut self, now: Instant) -> String {
            let errors = self.log.row_errors();
            let rows: Vec<u64> = self
                .counts
                .iter()
                .map(|c| c.rows.load(Ordering::Relaxed))
                .collect();
            let done: Vec<bool> = self
                .counts
                .iter()
                .map(|c| c.done.load(Ordering::Relaxed))
                .collect();
            let mut out = Vec::new();
            let mut hidden = 0;
            for line in &mut self.lines {
                let count = line.counts.rows.load(Ordering::Relaxed);
                line.samples.push_back((now, count));
                while line
                    .samples
                    .front()
                    .is_some_and(|&(t, _)| now.duration_since(t) > RATE_WINDOW)
                {
                    line.samples.pop_front();
                }
                if line.counts.done.load(Ordering::Relaxed) {
                    continue;
                }
                if out.len() == MAX_LINES {
                    hidden += 1;
                    continue;
                }
                let total = (!line.routed
                    && !line.predecessors.is_empty()
                    && line.predecessors.iter().all(|&p| done[p]))
                .then(|| line.predecessors.iter().map(|&p| rows[p]).max())
                .flatten()
                .filter(|&total| total >= count);
                let rate = line.samples.front().and_then(|&(t, first)| {
                    let span = now.duration_since(t).as_secs_f64();
                    (span >= 0.5).then(|| (count - first) as f64 / span)
                });
                let failed = errors.get(&line.name).copied().unwrap_or(0);
                let mut text = format_line(&line.name, self.width, count, total, rate, failed);
                if let Some(status) = &line.status {
                    text.push_str("  ");
                    text.push_str(&status());
                }
                out.push(text);
            }
            if hidden > 0 {
                out.push(format!(
                    "... and {hidden} more running step{}",
                    plural(hidden as u64)
                ));
            }
            out.join("\n")
        }
    }

    /// `generate  [=====>     ]  1,234/5,000 rows  412 rows/s  3 errors  ETA 9s`
    fn format_line(
        name: &str,
        width: usize,
        rows: u64,
        total: Option<u64>,
        rate: Option<f64>,
        errors: u64,
    ) -> String {
        let name: String = name.chars().take(width).collect();
        let mut line = format!("{name:<width$}  ");
        match total {
            Some(total) => {
                let filled = if total == 0 {
                    BAR_WIDTH
                } else {
                    (rows as f64 / total as f64 * BAR_WIDTH as f64) as usize
                };
                let bar: String = (0..BAR_WIDTH)
                    .map(|i| match i.cmp(&filled) {
                        std::cmp::Ordering::Less => '=',
                        std::cmp::Ordering::Equal => '>',
                        std::cmp::Ordering::Greater => ' ',
                    })
                    .collect();
                line.push_str(&format!(
                    "[{bar}]  {}/{} rows",
                    thousands(rows),
                    thousands(total)
                ));
            }
            None => line.push_str(&format!("{} row{}", thousands(rows), plural(rows))),
        }
        if let Some(rate) = rate {
            line.push_str(&format!("  {} rows/s", format_rate(rate)));
        }
        if errors > 0 {
            line.push_str(&format!("  {} error{}", thousands(errors), plural(errors)));
        }
        if let (Some(total), Some(rate)) = (total, rate)
            && rate > 0.0
        {
            let left = (total - rows) as f64 / rate;
            line.push_str(&format!("  ETA {}", format_eta(left)));
        }
        line
    }

    fn plural(n: u64) -> &'static str {
        if n == 1 { "" } else { "s" }
    }

    /// `1234567` -> `1,234,567`.
    pub(super) fn thousands(n: u64) -> String {
        let digits = n.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    fn format_rate(rate: f64) -> String {
        if rate < 10.0 {
            format!("{rate:.1}")
        } else {
            thousands(rate.round() as u64)
        }
    }

    /// `9s`, `2m05s`, `1h02m`.
    pub(super) fn format_eta(seconds: f64) -> String {
        let s = seconds.ceil().max(0.0) as u64;
        match s {
            0..60 => format!("{s}s"),
            60..3600 => format!("{}m{:02}s", s / 60, s % 60),
            _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        }
    }

    /// A terminal drawn into a writer (ANSI cursor moves), for an injected writer or a stderr
    /// that is not a terminal when the display is forced on.
    #[derive(Debug)]
    struct WriterTerm(ProgressWriter);

    impl WriterTerm {
        fn write(&self, text: &str) -> std::io::Result<()> {
            let mut writer = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
            writer.write_all(text.as_bytes())
        }

        fn cursor(&self, n: usize, code: char) -> std::io::Result<()> {
            if n == 0 {
                return Ok(());
            }
            self.write(&format!("\x1b[{n}{code}"))
        }
    }

    impl TermLike for WriterTerm {
        fn width(&self) -> u16 {
            WRITER_WIDTH
        }

        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            self.cursor(n, 'A')
        }

        fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
            self.cursor(n, 'B')
        }

        fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
            self.cursor(n, 'C')
        }

        fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
            self.cursor(n, 'D')
        }

        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write(s)?;
            self.write("\n")
        }

        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.write(s)
        }

        fn clear_line(&self) -> std::io::Result<()> {
            self.write("\r\x1b[2K")
        }

        fn flush(&self) -> std::io::Result<()> {
            self.0.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn formats_a_line() {
            assert_eq!(thousands(0), "0");
            assert_eq!(thousands(999), "999");
            assert_eq!(thousands(1_234), "1,234");
            assert_eq!(thousands(1_234_567), "1,234,567");
            assert_eq!(format_eta(8.2), "9s");
            assert_eq!(format_eta(125.0), "2m05s");
            assert_eq!(format_eta(3720.0), "1h02m");
            assert_eq!(
                format_line("generate", 8, 1_234, Some(5_000), Some(412.3), 3),
                "generate  [====>               ]  1,234/5,000 rows  412 rows/s  3 errors  ETA 10s"
            );
            assert_eq!(format_line("load", 8, 1, None, None, 0), "load      1 row");
        }
    }
}
