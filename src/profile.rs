//! `-v` timings: wall time, CPU time of all threads and peak memory after
//! each step of a command, read from `/proc` where the OS offers it.

use std::time::{Duration, Instant};

/// Wall time and peak memory after each step of a command, for `-v`.
pub struct Stages {
    clock: Instant,
    last: Duration,
    last_cpu: Option<f64>,
    /// Name, wall seconds, CPU seconds of all threads, peak KiB.
    marks: Vec<(&'static str, f64, Option<f64>, Option<u64>)>,
}

impl Stages {
    pub fn new(clock: Instant) -> Self {
        Self {
            clock,
            last: Duration::ZERO,
            last_cpu: cpu_seconds(),
            marks: Vec::new(),
        }
    }

    pub fn mark(&mut self, name: &'static str) {
        let now = self.clock.elapsed();
        let seconds = now.saturating_sub(self.last).as_secs_f64();
        self.last = now;
        let cpu = cpu_seconds();
        let spent = cpu.zip(self.last_cpu).map(|(now, before)| now - before);
        self.last_cpu = cpu;
        self.marks.push((name, seconds, spent, peak_rss_kib()));
    }
}

/// CPU time of the whole process so far (user + system, every thread), in
/// seconds, where the OS says (`/proc/self/stat`, in ticks of 1/100 s).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |at: usize| fields.get(at)?.parse::<f64>().ok();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

impl std::fmt::Display for Stages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, seconds, cpu, peak)) in self.marks.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name} {seconds:.3}s")?;
            let mut details = Vec::new();
            if let Some(cpu) = cpu {
                details.push(format!("cpu {cpu:.2}s"));
            }
            if let Some(kib) = peak {
                details.push(format!("peak {} MB", kib / 1024));
            }
            if !details.is_empty() {
                write!(f, " ({})", details.join(", "))?;
            }
        }
        Ok(())
    }
}

/// The process's peak resident set so far (`VmHWM`), where the OS says.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
