//! The only writer of user-facing output. Commands and stages describe what
//! happened as [`Event`]s through one [`Reporter`]; a [`Sink`] writes them:
//! `text::TextSink` as plain or coloured lines, `json::JsonSink` as one
//! JSON object per line (`--log-format json`). `--quiet` is applied here,
//! the same for both. Lines go out whole, so parallel workers never mix.

mod json;
mod progress;
mod text;

use std::sync::Arc;

use crate::diag::Diagnostic;

pub use progress::Progress;

/// `--log-format`: lines for people, or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// How a finished node is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Warn,
    Bad,
    Quiet,
}

/// One finished node, as a progress line.
#[derive(Debug, Clone)]
pub struct NodeLine<'a> {
    pub index: usize,
    pub total: usize,
    pub status: &'a str,
    /// The status as `run_results.json` spells it (`success`, `error`, ...).
    pub result_status: &'a str,
    pub tone: Tone,
    pub resource_type: &'a str,
    pub unique_id: &'a str,
    pub name: &'a str,
    pub detail: &'a str,
    pub seconds: f64,
    /// For a test: how many failures it found.
    pub failures: Option<u64>,
}

/// The closing count of a run, per status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub pass: usize,
    pub warn: usize,
    pub error: usize,
    pub skip: usize,
}

impl Counts {
    /// Each count with its label, in the order the summary line shows them.
    pub fn labelled(&self) -> [(&'static str, usize); 4] {
        [
            ("PASS", self.pass),
            ("WARN", self.warn),
            ("ERROR", self.error),
            ("SKIP", self.skip),
        ]
    }

    pub fn total(&self) -> usize {
        self.pass + self.warn + self.error + self.skip
    }

    /// Red when anything failed, yellow for warnings and skips, else green.
    pub fn tone(&self) -> Tone {
        if self.error > 0 {
            Tone::Bad
        } else if self.warn > 0 || self.skip > 0 {
            Tone::Warn
        } else {
            Tone::Good
        }
    }
}

/// What a command tells its user.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// An informational line.
    Info(&'a str),
    /// The command's answer (`ls`, `show`, `compile -s`).
    Result(&'a str),
    Warning(&'a str),
    /// A note from inside a warehouse adapter (a retried request, a
    /// cancelled job).
    Note(&'a str),
    Diagnostic(&'a Diagnostic),
    NodeFinished(&'a NodeLine<'a>),
    /// The closing summary: counts, seconds and what ran.
    Summary {
        counts: Counts,
        seconds: f64,
        what: &'a str,
    },
}

/// Writes events: one implementation per `--log-format`.
pub trait Sink: Send + Sync {
    fn write(&self, event: &Event<'_>);
}

/// The handle every stage writes through; cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    sink: Arc<dyn Sink>,
    /// A bar may be drawn (text on a terminal, not quiet).
    bars: bool,
    quiet: bool,
    verbose: bool,
    /// Results may be coloured: text on a terminal, colour not refused.
    color: bool,
}

impl Reporter {
    /// `color` is false when `NO_COLOR` asks for none; colours are used only
    /// on a terminal either way.
    pub fn new(format: LogFormat, quiet: bool, verbose: bool, color: bool) -> Self {
        use std::io::IsTerminal;
        let sink: Arc<dyn Sink> = match format {
            LogFormat::Text => Arc::new(text::TextSink::new(
                color && std::io::stdout().is_terminal(),
            )),
            LogFormat::Json => Arc::new(json::JsonSink::default()),
        };
        Self {
            sink,
            bars: format == LogFormat::Text && !quiet && std::io::stderr().is_terminal(),
            quiet,
            verbose,
            color: color && format == LogFormat::Text && std::io::stdout().is_terminal(),
        }
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// Whether a result may carry colours (`sb diff` on a terminal).
    pub fn color(&self) -> bool {
        self.color
    }

    fn emit(&self, event: &Event<'_>) {
        self.sink.write(event);
    }

    /// An informational line (suppressed by `--quiet`).
    pub fn info(&self, message: &str) {
        if !self.quiet {
            self.emit(&Event::Info(message));
        }
    }

    /// Output that is the command's result (`ls`, `show`, `compile -s`): never suppressed.
    pub fn result(&self, text: &str) {
        self.emit(&Event::Result(text.trim_end_matches('\n')));
    }

    pub fn warning(&self, message: &str) {
        self.emit(&Event::Warning(message));
    }

    /// A note from a warehouse adapter: a whole line, whichever sink.
    pub fn note(&self, message: &str) {
        self.emit(&Event::Note(message));
    }

    pub fn diagnostic(&self, diagnostic: &Diagnostic) {
        self.emit(&Event::Diagnostic(diagnostic));
    }

    pub fn node(&self, line: &NodeLine<'_>) {
        if self.quiet && matches!(line.tone, Tone::Good | Tone::Quiet) {
            return;
        }
        self.emit(&Event::NodeFinished(line));
    }

    /// The closing summary: counts per status.
    pub fn summary(&self, counts: Counts, seconds: f64, what: &str) {
        self.emit(&Event::Summary {
            counts,
            seconds,
            what,
        });
    }

    /// A progress display for a long load of `what`: a bar on a terminal
    /// (text format, not quiet); otherwise a plain line at each quarter of a
    /// load of a million rows or more.
    pub fn progress(&self, what: &str) -> Progress<'_> {
        Progress::new(self, what, self.bars)
    }
}
