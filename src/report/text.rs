//! The terminal and plain-text sink: progress and results on stdout,
//! warnings, notes and diagnostics on stderr, coloured on a terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::sync::Mutex;

use super::{Event, NodeLine, Sink, Tone};

pub struct TextSink {
    color: bool,
    lock: Mutex<()>,
}

impl TextSink {
    pub fn new(color: bool) -> Self {
        Self {
            color,
            lock: Mutex::new(()),
        }
    }

    fn out(&self, line: &str) {
        let line = crate::secrets::redact(line);
        let _guard = self.lock.lock();
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    fn err(&self, text: &str) {
        let text = crate::secrets::redact(text);
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

    fn node(&self, line: &NodeLine<'_>) {
        let width = line.total.to_string().len();
        let status = self.paint(&format!("{:<5}", line.status), line.tone);
        let label = format!("{} {}", line.resource_type, line.name);
        self.out(&format!(
            "{:>width$} of {}  {status} {label:<44} {} [{:.2}s]",
            line.index, line.total, line.detail, line.seconds
        ));
    }
}

impl Sink for TextSink {
    fn write(&self, event: &Event<'_>) {
        match *event {
            Event::Info(message) | Event::Result(message) => self.out(message),
            Event::Warning(message) => self.err(&format!(
                "{}: {message}\n",
                self.paint("warning", Tone::Warn)
            )),
            Event::Note(message) => self.err(&format!("note: {message}\n")),
            Event::Diagnostic(diagnostic) => {
                let text = diagnostic.render();
                let text = if self.color {
                    text.replacen("error:", &self.paint("error:", Tone::Bad), 1)
                        .replacen("warning:", &self.paint("warning:", Tone::Warn), 1)
                } else {
                    text
                };
                self.err(&format!("{text}\n"));
            }
            Event::NodeFinished(line) => self.node(line),
            Event::Summary {
                counts,
                seconds,
                what,
            } => {
                let parts: Vec<String> = counts
                    .labelled()
                    .iter()
                    .map(|(k, n)| format!("{k}={n}"))
                    .collect();
                self.out("");
                self.out(&format!("Finished {what} in {seconds:.2}s."));
                self.out(&self.paint(
                    &format!("Done. {} TOTAL={}", parts.join(" "), counts.total()),
                    counts.tone(),
                ));
            }
        }
    }
}
