//! The only writer of user-facing output: progress lines, diagnostics and
//! summaries, as plain or coloured text, or one JSON object per line with
//! `--log-format json`. Lines go out whole, so parallel workers never mix.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use serde_json::json;

use crate::cli::LogFormat;
use crate::diag::Diagnostic;

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

pub struct Reporter {
    format: LogFormat,
    quiet: bool,
    verbose: bool,
    color: bool,
    lock: Mutex<()>,
}

impl Reporter {
    pub fn new(format: LogFormat, quiet: bool, verbose: bool) -> Self {
        let color = format == LogFormat::Text
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self {
            format,
            quiet,
            verbose,
            color,
            lock: Mutex::new(()),
        }
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    fn out(&self, line: &str) {
        let _guard = self.lock.lock();
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    fn err(&self, text: &str) {
        let _guard = self.lock.lock();
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "{text}");
        let _ = stderr.flush();
    }

    fn paint(&self, text: &str, tone: Tone) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match tone {
            Tone::Good => "32",
            Tone::Warn => "33",
            Tone::Bad => "31",
            Tone::Quiet => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// An informational line (suppressed by `--quiet`).
    pub fn info(&self, message: &str) {
        if self.quiet {
            return;
        }
        match self.format {
            LogFormat::Text => self.out(message),
            LogFormat::Json => self.out(&json!({"level": "info", "msg": message}).to_string()),
        }
    }

    /// Output that is the command's result (`ls`, `show`, `compile -s`): never suppressed.
    pub fn result(&self, text: &str) {
        self.out(text.trim_end_matches('\n'));
    }

    /// A progress display for a long load of `what`: a bar on a terminal
    /// (text format, not quiet); otherwise a plain line at each quarter of a
    /// load of a million rows or more.
    pub fn progress(&self, what: &str) -> Progress<'_> {
        let bar =
            (self.format == LogFormat::Text && !self.quiet && std::io::stderr().is_terminal())
                .then(|| {
                    let bar = indicatif::ProgressBar::new(0);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} ({per_sec}, {eta})",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.set_message(what.to_owned());
                    bar
                });
        Progress {
            reporter: self,
            what: what.to_owned(),
            bar,
            quarters_said: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn warning(&self, message: &str) {
        match self.format {
            LogFormat::Text => self.err(&format!(
                "{}: {message}\n",
                self.paint("warning", Tone::Warn)
            )),
            LogFormat::Json => self.out(&json!({"level": "warn", "msg": message}).to_string()),
        }
    }

    pub fn diagnostic(&self, diagnostic: &Diagnostic) {
        match self.format {
            LogFormat::Text => {
                let text = diagnostic.render();
                let text = if self.color {
                    text.replacen("error:", &self.paint("error:", Tone::Bad), 1)
                        .replacen("warning:", &self.paint("warning:", Tone::Warn), 1)
                } else {
                    text
                };
                self.err(&format!("{text}\n"));
            }
            LogFormat::Json => self.out(
                &json!({
                    "level": match diagnostic.severity { crate::diag::Severity::Error => "error", crate::diag::Severity::Warning => "warn" },
                    "msg": diagnostic.message,
                    "location": diagnostic.position(),
                    "help": diagnostic.help,
                    "notes": diagnostic.notes,
                    "rendered": diagnostic.render(),
                })
                .to_string(),
            ),
        }
    }

    pub fn node(&self, line: &NodeLine<'_>) {
        if self.quiet && matches!(line.tone, Tone::Good | Tone::Quiet) {
            return;
        }
        match self.format {
            LogFormat::Text => {
                let width = line.total.to_string().len();
                let status = self.paint(&format!("{:<5}", line.status), line.tone);
                let label = format!("{} {}", line.resource_type, line.name);
                self.out(&format!(
                    "{:>width$} of {}  {status} {label:<44} {} [{:.2}s]",
                    line.index, line.total, line.detail, line.seconds
                ));
            }
            LogFormat::Json => self.out(
                &json!({
                    "level": "info",
                    "event": "node_finished",
                    "index": line.index,
                    "total": line.total,
                    "status": line.result_status,
                    "resource_type": line.resource_type,
                    "unique_id": line.unique_id,
                    "name": line.name,
                    "message": line.detail,
                    "execution_time": line.seconds,
                    "failures": line.failures,
                })
                .to_string(),
            ),
        }
    }

    /// The closing summary: counts per status.
    pub fn summary(&self, counts: &[(&str, usize)], seconds: f64, what: &str) {
        let total: usize = counts.iter().map(|(_, n)| n).sum();
        match self.format {
            LogFormat::Text => {
                let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k}={n}")).collect();
                let tone = if counts
                    .iter()
                    .any(|(k, n)| *n > 0 && matches!(*k, "ERROR" | "FAIL"))
                {
                    Tone::Bad
                } else if counts
                    .iter()
                    .any(|(k, n)| *n > 0 && matches!(*k, "WARN" | "SKIP"))
                {
                    Tone::Warn
                } else {
                    Tone::Good
                };
                self.out("");
                self.out(&format!("Finished {what} in {seconds:.2}s."));
                self.out(&self.paint(&format!("Done. {} TOTAL={total}", parts.join(" ")), tone));
            }
            LogFormat::Json => {
                let mut object = serde_json::Map::new();
                object.insert("level".into(), json!("info"));
                object.insert("event".into(), json!("summary"));
                object.insert("elapsed_time".into(), json!(seconds));
                for (k, n) in counts {
                    object.insert(k.to_lowercase(), json!(n));
                }
                object.insert("total".into(), json!(total));
                self.out(&serde_json::Value::Object(object).to_string());
            }
        }
    }
}

/// See [`Reporter::progress`].
pub struct Progress<'a> {
    reporter: &'a Reporter,
    what: String,
    bar: Option<indicatif::ProgressBar>,
    quarters_said: std::sync::atomic::AtomicU64,
}

impl Progress<'_> {
    pub fn update(&self, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
            return;
        }
        if total < 1_000_000 || self.reporter.quiet {
            return;
        }
        let quarter = done.saturating_mul(4) / total.max(1);
        let said = self
            .quarters_said
            .fetch_max(quarter, std::sync::atomic::Ordering::Relaxed);
        if quarter > said && quarter < 4 {
            self.reporter
                .info(&format!("{}: {done} of {total} loaded", self.what));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A note from inside a warehouse adapter (a retried request, a cancelled
/// job): one whole line on stderr, whichever reporter is active.
pub fn adapter_note(message: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "note: {message}");
    let _ = stderr.flush();
}
