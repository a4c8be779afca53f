//! Progress of a long load: an indicatif bar on a terminal, otherwise a
//! plain line at each quarter of a load of a million rows or more.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Reporter;

/// See [`Reporter::progress`].
pub struct Progress<'a> {
    reporter: &'a Reporter,
    what: String,
    bar: Option<indicatif::ProgressBar>,
    quarters_said: AtomicU64,
}

impl<'a> Progress<'a> {
    pub(super) fn new(reporter: &'a Reporter, what: &str, draw_bar: bool) -> Self {
        let bar = draw_bar.then(|| {
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
        Self {
            reporter,
            what: what.to_owned(),
            bar,
            quarters_said: AtomicU64::new(0),
        }
    }

    pub fn update(&self, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
            return;
        }
        if total < 1_000_000 {
            return;
        }
        let quarter = done.saturating_mul(4) / total.max(1);
        let said = self.quarters_said.fetch_max(quarter, Ordering::Relaxed);
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
