//! Progress on a terminal for the long steps with a known total (the SCIM reads, apply's writes):
//! `reading Users from https://…: 1200/5000 users, 412/s, 9s left`. Shown on stderr only when it
//! is a terminal, only after the step has taken a second, and never while logging (`-v`): a
//! redrawn line and log lines would garble each other.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A count towards a total, drawn on a terminal once the step has taken a second.
pub struct Progress {
    bar: ProgressBar,
    what: String,
    noun: (&'static str, &'static str),
    total: usize,
    done: AtomicUsize,
    started: Instant,
    shown: AtomicBool,
    tty: bool,
}

impl Progress {
    /// `what` (`writing to https://…`) the step does, `noun` what it counts (one, many).
    pub fn new(what: impl Into<String>, noun: (&'static str, &'static str), total: usize) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
            bar.set_style(style);
        }
        Progress {
            bar,
            what: what.into(),
            noun,
            total,
            done: AtomicUsize::new(0),
            started: Instant::now(),
            shown: AtomicBool::new(false),
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// `n` more done.
    pub fn add(&self, n: usize) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        self.draw(done);
    }

    /// At least `done` done (a step that counts its own way).
    pub fn reach(&self, done: usize) {
        let was = self.done.fetch_max(done, Ordering::Relaxed);
        self.draw(was.max(done));
    }

    fn draw(&self, done: usize) {
        let elapsed = self.started.elapsed();
        if !self.tty || crate::log::enabled() || elapsed < Duration::from_secs(1) {
            return;
        }
        if !self.shown.swap(true, Ordering::Relaxed) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar.enable_steady_tick(Duration::from_millis(200));
        }
        self.bar.set_message(format!(
            "{}: {}",
            self.what,
            line(done.min(self.total), self.total, self.noun, elapsed)
        ));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// `1200/5000 users, 412/s, 9s left`: the count, the rate as a whole number per second and the
/// time left at that rate (none before a rate is known or once done). Pure.
pub fn line(done: usize, total: usize, noun: (&str, &str), elapsed: Duration) -> String {
    let noun = if total == 1 { noun.0 } else { noun.1 };
    let rate = per_second(done, elapsed);
    let mut out = format!("{done}/{total} {noun}, {rate}/s");
    if rate > 0 && done < total {
        let left = (total - done) as u64 / rate + u64::from((total - done) as u64 % rate != 0);
        out.push_str(&format!(", {} left", duration(left)));
    }
    out
}

/// The rate, as a whole number per second (`412`, never `412.3817`).
pub fn per_second(done: usize, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        0
    } else {
        (done as f64 / secs).round() as u64
    }
}

/// `9s`, `2m 05s`, `1h 02m`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_a_line_counts_the_rate_in_whole_numbers_and_the_time_left() {
        let users = ("user", "users");
        assert_eq!(
            line(1200, 5000, users, Duration::from_millis(2900)),
            "1200/5000 users, 414/s, 10s left"
        );
        assert_eq!(
            line(5000, 5000, users, Duration::from_secs(10)),
            "5000/5000 users, 500/s"
        );
        assert_eq!(
            line(0, 1, ("change", "changes"), Duration::from_secs(3)),
            "0/1 change, 0/s"
        );
        assert_eq!(
            line(10, 100_000, ("write", "writes"), Duration::from_secs(1)),
            "10/100000 writes, 10/s, 2h 46m left"
        );
        assert_eq!(duration(125), "2m 05s");
        assert_eq!(per_second(1, Duration::ZERO), 0);
    }
}
