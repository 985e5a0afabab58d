//! Progress on a terminal for the long steps with a known total (the SCIM reads, apply's writes):
//! `reading Users from https://…: 1200/5000 users, 412/s, 9s left`. Shown on stderr only when it
//! is a terminal, only after the step has taken a second, and never while logging (`-v`): a
//! redrawn line and log lines would garble each other. Steps that run at once (the reads of
//! Users and of Groups, the directory read beside them) each keep a line of their own
//! ([`Lines`]), each with its own count, total and noun.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The terminal lines progress is drawn on, one per step in progress: bars drawn each on their
/// own would share the cursor's line, the second written after the first (`…1200/5000 users,
/// 412/s⠁ reading …/Groups: 10/300 groups`).
#[derive(Clone)]
pub struct Lines {
    multi: MultiProgress,
    /// How often a shown step's spinner turns (none: only when its count moves).
    tick: Option<Duration>,
}

impl Lines {
    /// stderr's lines: one set for the process, shared by every step.
    pub fn stderr() -> &'static Lines {
        static LINES: OnceLock<Lines> = OnceLock::new();
        LINES.get_or_init(|| Lines {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            tick: Some(Duration::from_millis(200)),
        })
    }

    /// Draw `bar` from now on, on a line of its own.
    pub fn add(&self, bar: &ProgressBar) {
        self.multi.add(bar.clone());
        if let Some(tick) = self.tick {
            bar.enable_steady_tick(tick);
        }
    }

    /// Give `bar`'s line back (once it is finished and cleared).
    pub fn remove(&self, bar: &ProgressBar) {
        self.multi.remove(bar);
    }
}

/// A count towards a total, drawn on a terminal once the step has taken a second.
pub struct Progress {
    bar: ProgressBar,
    what: String,
    noun: (&'static str, &'static str),
    total: usize,
    done: AtomicUsize,
    started: Instant,
    shown: AtomicBool,
    /// Where it is drawn; `None` when stderr is not a terminal.
    lines: Option<Lines>,
}

impl Progress {
    /// `what` (`writing to https://…`) the step does, `noun` what it counts (one, many).
    pub fn new(what: impl Into<String>, noun: (&'static str, &'static str), total: usize) -> Self {
        let lines = std::io::stderr()
            .is_terminal()
            .then(|| Lines::stderr().clone());
        Self::on(lines, what, noun, total, Instant::now())
    }

    /// [`Progress::new`] drawn on `lines`, for a step that started at `started`.
    fn on(
        lines: Option<Lines>,
        what: impl Into<String>,
        noun: (&'static str, &'static str),
        total: usize,
        started: Instant,
    ) -> Self {
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
            started,
            shown: AtomicBool::new(false),
            lines,
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
        let Some(lines) = &self.lines else { return };
        if crate::log::enabled() || elapsed < Duration::from_secs(1) {
            return;
        }
        if !self.shown.swap(true, Ordering::Relaxed) {
            lines.add(&self.bar);
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
        if let Some(lines) = &self.lines {
            lines.remove(&self.bar);
        }
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

    const WIDTH: usize = 100;

    /// A terminal in memory: the rows as a person would read them.
    #[derive(Debug, Clone, Default)]
    struct Screen(std::sync::Arc<std::sync::Mutex<Cells>>);

    /// The rows of characters, and the cursor's row and column.
    type Cells = (Vec<Vec<char>>, usize, usize);

    impl Screen {
        fn rows(&self) -> Vec<String> {
            let s = self.0.lock().unwrap();
            s.0.iter()
                .map(|r| r.iter().collect::<String>().trim_end().to_owned())
                .filter(|r| !r.is_empty())
                .collect()
        }
        fn with<T>(&self, f: impl FnOnce(&mut Vec<Vec<char>>, &mut usize, &mut usize) -> T) -> T {
            let mut s = self.0.lock().unwrap();
            let (rows, row, col) = &mut *s;
            if rows.len() <= *row {
                rows.resize(*row + 1, Vec::new());
            }
            f(rows, row, col)
        }
    }

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            WIDTH as u16
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            self.with(|_, row, _| *row = row.saturating_sub(n));
            Ok(())
        }
        fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
            self.with(|_, row, _| *row += n);
            Ok(())
        }
        fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
            self.with(|_, _, col| *col += n);
            Ok(())
        }
        fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
            self.with(|_, _, col| *col = col.saturating_sub(n));
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)?;
            self.write_str("\n")
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            for ch in s.chars() {
                self.with(|rows, row, col| match ch {
                    '\r' => *col = 0,
                    '\n' => {
                        (*row, *col) = (*row + 1, 0);
                        if rows.len() <= *row {
                            rows.resize(*row + 1, Vec::new());
                        }
                    }
                    c => {
                        // A full row wraps on the next character, as a terminal does.
                        if *col >= WIDTH {
                            (*row, *col) = (*row + 1, 0);
                        }
                        if rows.len() <= *row {
                            rows.resize(*row + 1, Vec::new());
                        }
                        let r = &mut rows[*row];
                        if r.len() <= *col {
                            r.resize(*col + 1, ' ');
                        }
                        r[*col] = c;
                        *col += 1;
                    }
                });
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.with(|rows, row, col| {
                rows[*row].clear();
                *col = 0;
            });
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn steps_at_once_each_count_on_a_line_of_their_own() {
        let screen = Screen::default();
        let lines = Lines {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::term_like(Box::new(
                screen.clone(),
            ))),
            tick: None,
        };
        // Started long enough ago to be shown, without waiting.
        let started = Instant::now()
            .checked_sub(Duration::from_secs(10))
            .expect("a clock past 10s");
        let step =
            |what: &str, noun, total| Progress::on(Some(lines.clone()), what, noun, total, started);
        let users = step("reading https://i/Users", ("user", "users"), 5000);
        users.add(1000);
        let groups = step("reading https://i/Groups", ("group", "groups"), 300);
        users.add(200);
        groups.add(10);
        // Users counts on after Groups drew: on its own line still, not over Groups'.
        users.add(100);
        let rows = screen.rows();
        assert_eq!(rows.len(), 2, "{rows:#?}");
        assert!(
            rows[0].contains("reading https://i/Users: 1300/5000 users, "),
            "{rows:#?}"
        );
        assert!(
            rows[1].ends_with("reading https://i/Groups: 10/300 groups, 1/s, 4m 50s left"),
            "{rows:#?}"
        );
        // A finished step gives its line back; the other keeps counting on its own.
        drop(groups);
        users.add(200);
        let rows = screen.rows();
        assert_eq!(rows.len(), 1, "{rows:#?}");
        assert!(rows[0].contains("1500/5000 users"), "{rows:#?}");
        drop(users);
        assert!(screen.rows().is_empty(), "{:#?}", screen.rows());
    }
}
