//! Fitting a Markdown document into a size budget (`--max-bytes`, GitHub's 65,536-character
//! comment limit): the parts filled in order of importance (each part's rank, then its rows'),
//! each list showing its first rows and a line counting the rest. Cuts fall between whole items
//! only (a table row, a list item), and a part's head and tail (`<details>`, `</details>`) are
//! kept or left out together, so the result is the same Markdown, shorter. A cut document says
//! so (a note, one short line at the least) and where the whole one is ([`FullPlanAt`]), and no
//! section goes without a trace: each has its count line before any section gets rows, and the
//! sections that get not even that are counted in one line.

use std::path::Path;

type More = Box<dyn Fn(usize) -> String>;

/// Where the whole document is, for a cut one to say: made by the command (the renderers read
/// no environment).
#[derive(Debug, Clone, Default)]
pub struct FullPlanAt {
    /// `--full-markdown FILE`, as given.
    file: Option<String>,
    /// Published by the caller (`ROSTER_FULL_PLAN=job-summary`: the reusable workflow puts the
    /// file in the job summary and an artifact): a runner's file path means nothing to a reviewer.
    actions: bool,
}

impl FullPlanAt {
    pub fn new(file: Option<&Path>, actions: bool) -> FullPlanAt {
        FullPlanAt {
            file: file.map(|f| f.display().to_string()),
            actions,
        }
    }

    /// The note's clause: "the full plan is in this run's job summary and artifact".
    fn clause(&self) -> String {
        match (&self.file, self.actions) {
            (Some(_), true) => "the full plan is in this run's job summary and artifact".into(),
            (Some(f), false) => format!("the full plan is in {}", crate::text::code(f)),
            (None, _) => {
                "for the full plan, run the same `roster plan --format markdown` without `--max-bytes`"
                    .into()
            }
        }
    }

    /// Short, for each count line (it repeats): "(full plan: job summary or artifact)".
    fn see(&self) -> String {
        match (&self.file, self.actions) {
            (Some(_), true) => "(full plan: job summary or artifact)".into(),
            (Some(f), false) => format!("(full plan: {})", crate::text::code(f)),
            (None, _) => "(full plan: run without `--max-bytes`)".into(),
        }
    }
}

/// What a part shows that depends on the other parts' states.
enum Derived {
    /// How many sections are left out (nothing when none is).
    Tally(More),
    /// Its text, only while part `.0` shows nothing (a short stand-in for it).
    Instead(usize),
}

/// One part of a document: a head, items, a tail.
pub(crate) struct Part {
    /// Lower is more important: the part (its head, tail and count line) is placed in this order.
    rank: u8,
    /// When its items are filled in (lists of one rank in turn, one item each).
    items_rank: u8,
    head: String,
    items: Vec<String>,
    /// Short forms of the items, shown first; the full forms replace them at `full_rank`.
    short: Option<(Vec<String>, u8)>,
    tail: String,
    /// The line standing for the items left out, given how many; `None` for a part without
    /// items.
    more: Option<More>,
    /// The count line comes last, when there is room (the head counts the items).
    more_optional: bool,
    /// With no item shown, this line alone stands for the part (no head, no empty table).
    bare: Option<More>,
    /// Only in a cut document (the notice that says so).
    when_cut: bool,
    /// A cut document without it has not said what matters (the caller warns).
    key: bool,
    /// A section of the document (a list of rows of its own): counted by the tally when left
    /// out, and placed only while the tally is, and after every more important section.
    section: bool,
    derived: Option<Derived>,
}

impl Part {
    /// Text kept whole: a heading, a summary.
    pub fn fixed(rank: u8, text: impl Into<String>) -> Part {
        Part {
            rank,
            items_rank: rank,
            head: text.into(),
            items: Vec::new(),
            short: None,
            tail: String::new(),
            more: None,
            more_optional: false,
            bare: None,
            when_cut: false,
            key: false,
            section: false,
            derived: None,
        }
    }

    /// One line counting the sections left out ("2 more sections not shown"), at their end.
    /// Ranked before them, it keeps the room for itself, and shrinks as they come in; they
    /// come in only after it.
    pub fn tally(rank: u8) -> Part {
        let mut p = Part::fixed(rank, "");
        p.derived = Some(Derived::Tally(Box::new(|n| {
            format!(
                "{n} more section{} not shown (see the full plan)\n\n",
                if n == 1 { "" } else { "s" }
            )
        })));
        p.when_cut()
    }

    /// A section of the document: counted by [`Part::tally`] when left out; its count line comes
    /// in after the tally's, and after every more important section's.
    pub fn section(mut self) -> Part {
        self.section = true;
        self
    }

    /// Text in a short form at `rank`, replaced by its full form at `full_rank` when it fits.
    pub fn fixed_short(
        rank: u8,
        short: impl Into<String>,
        full: impl Into<String>,
        full_rank: u8,
    ) -> Part {
        let mut p = Part::fixed(rank, "");
        p.items = vec![full.into()];
        p.short = Some((vec![short.into()], full_rank));
        p
    }

    /// A list whose first items are shown when the document is cut, then `more(n)`.
    pub fn list(
        rank: u8,
        head: impl Into<String>,
        items: Vec<String>,
        tail: impl Into<String>,
        more: impl Fn(usize) -> String + 'static,
    ) -> Part {
        let mut p = Part::fixed(rank, head);
        p.items = items;
        p.tail = tail.into();
        p.more = Some(Box::new(more));
        p
    }

    /// Its items are filled in at `rank` (after the part itself is placed).
    pub fn items_at(mut self, rank: u8) -> Part {
        self.items_rank = rank;
        self
    }

    /// The items' short forms, shown first; the full forms at `full_rank`.
    pub fn short_items(mut self, short: Vec<String>, full_rank: u8) -> Part {
        debug_assert_eq!(short.len(), self.items.len());
        self.short = Some((short, full_rank));
        self
    }

    /// The count line comes last, when there is room left (the head counts the items).
    pub fn more_optional(mut self) -> Part {
        self.more_optional = true;
        self
    }

    /// With no item shown, `bare(n)` alone stands for the part.
    pub fn bare(mut self, bare: impl Fn(usize) -> String + 'static) -> Part {
        self.bare = Some(Box::new(bare));
        self
    }

    /// Shown only when the document is cut.
    pub fn when_cut(mut self) -> Part {
        self.when_cut = true;
        self
    }

    /// What a cut document must show to be of use (see [`Fitted::complete`]): without it, only
    /// the parts ranked before it are shown.
    pub fn key(mut self) -> Part {
        self.key = true;
        self
    }

    fn item(&self, i: usize, full: bool) -> &str {
        match &self.short {
            Some((short, _)) if !full => &short[i],
            _ => &self.items[i],
        }
    }

    fn render(&self, s: State, out: &mut String) {
        if !s.on {
            return;
        }
        let n = self.items.len();
        if let (0, Some(bare)) = (s.k, &self.bare) {
            if n > 0 {
                out.push_str(&bare(n));
                return;
            }
        }
        out.push_str(&self.head);
        for i in 0..s.k {
            out.push_str(self.item(i, i < s.full));
        }
        if let (true, Some(more)) = (s.more && s.k < n, &self.more) {
            out.push_str(&more(n - s.k));
        }
        out.push_str(&self.tail);
    }

    fn len(&self, s: State) -> usize {
        let mut out = String::new();
        self.render(s, &mut out);
        out.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    on: bool,
    /// The first `k` items shown…
    k: usize,
    /// …the first `full` of them in their full form.
    full: usize,
    /// The count line, when items are left out.
    more: bool,
}

/// A document cut to its budget.
pub struct Fitted {
    pub text: String,
    /// Every key part is shown.
    pub complete: bool,
}

/// A document in parts, in the order they are shown.
#[derive(Default)]
pub(crate) struct Doc {
    parts: Vec<Part>,
}

impl Doc {
    /// Adds a part; its index (for [`Doc::notice`]).
    pub fn push(&mut self, part: Part) -> usize {
        self.parts.push(part);
        self.parts.len() - 1
    }

    /// The note at the top of a cut document: one short line at `tiny_rank` (it stands until
    /// the note itself fits), the note at `rank` saying where the full plan is, whole at
    /// `full_rank`.
    pub fn notice(&mut self, ranks: [u8; 3], max: usize, at: &FullPlanAt) {
        let [tiny_rank, rank, full_rank] = ranks;
        let note = self.push(
            Part::fixed_short(
                rank,
                format!(
                    "> [!NOTE]\n> **Cut to fit {max} bytes**: {}.\n\n",
                    at.clause()
                ),
                format!(
                    "> [!NOTE]\n> **Cut to fit {max} bytes.** Each section lists its first rows, then how many more it holds. Nothing is left out of the plan itself: {}.\n\n",
                    at.clause()
                ),
                full_rank,
            )
            .when_cut(),
        );
        let mut tiny = Part::fixed(tiny_rank, "Cut to fit.\n\n").when_cut();
        tiny.derived = Some(Derived::Instead(note));
        self.push(tiny);
    }

    /// Part `i`'s length in these states: a derived part's depends on the others'.
    fn len_of(&self, i: usize, states: &[State]) -> usize {
        let p = &self.parts[i];
        match &p.derived {
            _ if !states[i].on => 0,
            None => p.len(states[i]),
            Some(Derived::Instead(j)) if self.parts[*j].len(states[*j]) > 0 => 0,
            Some(Derived::Instead(_)) => p.head.len(),
            Some(Derived::Tally(line)) => match self.left_out(states) {
                0 => 0,
                n => line(n).len(),
            },
        }
    }

    /// How many sections with rows are not shown.
    fn left_out(&self, states: &[State]) -> usize {
        self.parts
            .iter()
            .zip(states)
            .filter(|(p, s)| p.section && !p.items.is_empty() && !s.on)
            .count()
    }

    fn render_part(&self, i: usize, states: &[State], out: &mut String) {
        let p = &self.parts[i];
        match &p.derived {
            None => p.render(states[i], out),
            Some(Derived::Instead(_)) if self.len_of(i, states) > 0 => out.push_str(&p.head),
            Some(Derived::Tally(line)) if self.len_of(i, states) > 0 => {
                out.push_str(&line(self.left_out(states)))
            }
            Some(_) => {}
        }
    }

    /// The whole document, not cut.
    pub fn whole(&self) -> String {
        let mut out = String::new();
        for p in self.parts.iter().filter(|p| !p.when_cut) {
            let k = p.items.len();
            p.render(
                State {
                    on: true,
                    k,
                    full: k,
                    more: true,
                },
                &mut out,
            );
        }
        out
    }

    /// The document in at most `max` bytes: whole when it fits; else filled in order of rank:
    /// each part placed (its head, tail and count line, or its bare line) when it fits, then its
    /// items one by one at their rank (lists of one rank in turn, so each shows its first rows),
    /// then short items replaced by their full forms at theirs. What does not fit is left out.
    pub fn fit(&self, max: usize) -> Fitted {
        let whole = self.whole();
        if whole.len() <= max {
            return Fitted {
                text: whole,
                complete: true,
            };
        }
        let off = State {
            on: false,
            k: 0,
            full: 0,
            more: true,
        };
        let mut states = vec![off; self.parts.len()];
        let mut size = 0usize;
        let mut ranks: Vec<u8> = self
            .parts
            .iter()
            .flat_map(|p| {
                [
                    p.rank,
                    p.items_rank,
                    p.short.as_ref().map_or(p.rank, |s| s.1),
                ]
            })
            .collect();
        ranks.sort_unstable();
        ranks.dedup();
        // The derived parts' lengths, as they are now.
        let derived: Vec<usize> = (0..self.parts.len())
            .filter(|&i| self.parts[i].derived.is_some())
            .collect();
        let mut derived_len = vec![0usize; derived.len()];
        let tally = self
            .parts
            .iter()
            .position(|p| matches!(p.derived, Some(Derived::Tally(_))));
        let mut sections_full = false;
        // Moves part `i` to `to` when the document still fits (the derived parts with it).
        let mut try_to = |states: &mut Vec<State>, i: usize, to: State| -> bool {
            let p = &self.parts[i];
            let old = states[i];
            let (less, more) = match p.derived {
                Some(_) => (0, 0),
                None => (p.len(old), p.len(to)),
            };
            states[i] = to;
            let now: Vec<usize> = derived.iter().map(|&d| self.len_of(d, states)).collect();
            let grown =
                size - less - derived_len.iter().sum::<usize>() + more + now.iter().sum::<usize>();
            if grown > max {
                states[i] = old;
                return false;
            }
            size = grown;
            derived_len = now;
            true
        };
        for rank in ranks {
            for (i, p) in self.parts.iter().enumerate() {
                // A section comes in only while the line counting those left out is in, and
                // only after every more important one (a short line is no reason to jump ahead).
                let untold = p.section && (sections_full || tally.is_some_and(|t| !states[t].on));
                if p.rank == rank && !untold {
                    // An optional count line waits for the room left at the end.
                    let more = !p.more_optional;
                    let placed = try_to(
                        &mut states,
                        i,
                        State {
                            on: true,
                            more,
                            ..off
                        },
                    );
                    sections_full |= p.section && !placed;
                }
            }
            let mut open: Vec<usize> = (0..self.parts.len())
                .filter(|&i| self.parts[i].items_rank == rank && states[i].on)
                .collect();
            while !open.is_empty() {
                open.retain(|&i| {
                    let s = states[i];
                    s.k < self.parts[i].items.len()
                        && try_to(&mut states, i, State { k: s.k + 1, ..s })
                });
            }
            let mut open: Vec<usize> = (0..self.parts.len())
                .filter(|&i| {
                    self.parts[i].short.as_ref().is_some_and(|s| s.1 == rank) && states[i].on
                })
                .collect();
            while !open.is_empty() {
                open.retain(|&i| {
                    let s = states[i];
                    s.full < s.k
                        && try_to(
                            &mut states,
                            i,
                            State {
                                full: s.full + 1,
                                ..s
                            },
                        )
                });
            }
        }
        // A count line left out for room: back when there is room now.
        for i in 0..self.parts.len() {
            if states[i].on && !states[i].more {
                let to = State {
                    more: true,
                    ..states[i]
                };
                try_to(&mut states, i, to);
            }
        }
        let complete = self.parts.iter().zip(&states).all(|(p, s)| !p.key || s.on);
        // Without a key part, only what ranks before it: the rest would read as the whole.
        let before = match complete {
            true => u8::MAX,
            false => self
                .parts
                .iter()
                .filter(|p| p.key)
                .map(|p| p.rank)
                .min()
                .unwrap_or(u8::MAX),
        };
        let mut text = String::with_capacity(size);
        for (i, p) in self.parts.iter().enumerate() {
            if complete || p.rank < before {
                self.render_part(i, &states, &mut text);
            }
        }
        debug_assert!(text.len() <= max);
        Fitted { text, complete }
    }
}

/// The longest of `lines` that fits in `max` bytes, or nothing.
pub(crate) fn fallback(max: usize, lines: &[&str]) -> String {
    lines
        .iter()
        .find(|l| l.len() <= max)
        .map_or_else(String::new, |l| (*l).to_owned())
}

/// "… and 4880 more creates (full plan: job summary or artifact)".
pub(crate) fn more_line(n: usize, one: &str, many: &str, at: &FullPlanAt) -> String {
    format!(
        "… and {n} more {} {}",
        if n == 1 { one } else { many },
        at.see()
    )
}

/// A section none of whose rows fit: "5 accounts to block, not shown (full plan: …)".
pub(crate) fn none_shown_line(n: usize, one: &str, many: &str, at: &FullPlanAt) -> String {
    format!(
        "{n} {}, not shown {}",
        if n == 1 { one } else { many },
        at.see()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> FullPlanAt {
        FullPlanAt::new(Some(Path::new("full.md")), false)
    }

    fn doc(rows: usize) -> Doc {
        let mut d = Doc::default();
        d.push(Part::fixed(0, "# Title\n\n"));
        d.notice([0, 0, 8], 100, &at());
        d.push(Part::list(
            1,
            "",
            (0..rows / 10).map(|i| format!("> warning {i}\n")).collect(),
            "\n",
            |n| format!("> … and {n} more warnings\n"),
        ));
        for name in ["a", "b"] {
            d.push(
                Part::list(
                    4,
                    format!("<details><summary>{name}</summary>\n\n| x |\n|---|\n"),
                    (0..rows).map(|i| format!("| {name}{i} |\n")).collect(),
                    "\n</details>\n\n",
                    |n| format!("\n{}\n", more_line(n, "row", "rows", &at())),
                )
                .bare(|n| format!("{}\n\n", none_shown_line(n, "row", "rows", &at()))),
            );
        }
        d.push(Part::fixed(9, "<sub>footer</sub>\n"));
        d
    }

    /// Sections of `rows` rows each after a summary, the line saying it is cut, and the line
    /// counting the sections left out: their count lines, their rows, then the note.
    fn sections(names: &[&str], rows: usize) -> Doc {
        let mut d = Doc::default();
        d.push(Part::fixed(0, "**Summary**\n\n"));
        d.notice([1, 5, 6], 100, &at());
        for name in names {
            let name = (*name).to_owned();
            let more = name.clone();
            d.push(
                Part::list(
                    3,
                    format!("<details><summary>{name}</summary>\n\n| x |\n|---|\n"),
                    (0..rows).map(|i| format!("| {name}{i} |\n")).collect(),
                    "\n</details>\n\n",
                    move |n| format!("\n… and {n} more {more}\n"),
                )
                .bare(move |n| format!("… and {n} more {name}\n\n"))
                .items_at(4)
                .section(),
            );
        }
        d.push(Part::tally(2));
        d
    }

    #[test]
    fn whole_when_it_fits_and_never_over_the_budget() {
        let d = doc(200);
        let whole = d.whole();
        assert!(!whole.contains("[!NOTE]") && !whole.contains("Cut to fit"));
        assert_eq!(d.fit(whole.len()).text, whole);
        for max in 0..whole.len() {
            let out = d.fit(max).text;
            assert!(out.len() <= max, "{max}: {}", out.len());
            assert_eq!(
                out.matches("<details>").count(),
                out.matches("</details>").count(),
                "{out}"
            );
            // Nothing but the whole document's lines, the notes and the counts.
            assert!(
                out.lines().all(|l| whole.contains(l)
                    || l.starts_with("> [!NOTE]")
                    || l.starts_with("> **Cut to fit 100 bytes")
                    || l == "Cut to fit."
                    || l.contains("more")
                    || l.contains("not shown")),
                "{max}: {out}"
            );
            // No heading-only table.
            assert!(!out.contains("|---|\n\n"), "{max}: {out}");
            // Cut, it says so, as soon as the title fits with the shortest note.
            if max >= "# Title\n\nCut to fit.\n\n".len() {
                assert!(out.contains("Cut to fit"), "{max}: {out}");
            }
        }
    }

    #[test]
    fn lists_share_the_room_and_count_the_rest() {
        let d = doc(200);
        let out = d.fit(3000).text;
        let shown = |n: &str| out.matches(&format!("| {n}")).count();
        assert!(
            shown("a") > 10 && shown("a").abs_diff(shown("b")) <= 1,
            "{out}"
        );
        assert!(out.contains(&format!(
            "… and {} more rows (full plan: `full.md`)",
            200 - shown("a")
        )));
        // The more important warnings are all there, whole.
        assert!(out.contains("> warning 19\n") && !out.contains("more warnings"));
        assert!(!out.contains("<sub>footer</sub>"));
        assert!(out.contains("**Cut to fit 100 bytes**: the full plan is in `full.md`."));
    }

    #[test]
    fn the_least_important_gives_way_first() {
        let d = doc(2000);
        // 200 warnings are about 2.6 KB: at 1 KB they are cut to a count, the footer and the
        // lists left out.
        let out = d.fit(1000);
        assert!(out.text.len() <= 1000);
        assert!(out.text.starts_with("# Title\n\n> [!NOTE]"), "{}", out.text);
        assert!(
            out.text.contains("> warning 0\n") && out.text.contains("more warnings"),
            "{}",
            out.text
        );
        assert!(
            !out.text.contains("footer") && !out.text.contains("<details>"),
            "{}",
            out.text
        );
        assert_eq!(d.fit(5).text, "");
        assert_eq!(fallback(5, &["long line", "tiny", "x"]), "tiny");
        assert_eq!(fallback(0, &["x"]), "");
    }

    const CUT: &str = "**Summary**\n\nCut to fit.\n\n";

    #[test]
    fn every_section_has_its_count_line_before_any_gets_rows() {
        let d = sections(&["first", "second", "third"], 50);
        let lines =
            format!("{CUT}… and 50 more first\n\n… and 50 more second\n\n… and 50 more third\n\n");
        // The last section in takes the room the line counting them kept.
        let room = lines.len() + "1 more section not shown (see the full plan)\n\n".len();
        assert_eq!(d.fit(room).text, lines);
        // With room for rows, each section has some, none before every count line is in.
        let out = d.fit(room + 400).text;
        for name in ["first", "second", "third"] {
            assert!(out.contains(&format!("<summary>{name}</summary>")), "{out}");
        }
        assert!(!out.contains("not shown"), "{out}");
    }

    #[test]
    fn sections_left_out_are_counted_in_one_line() {
        let d = sections(&["first", "second", "third"], 50);
        let tally = |n: usize| {
            format!(
                "{n} more section{} not shown (see the full plan)\n\n",
                if n == 1 { "" } else { "s" }
            )
        };
        for max in 0..3000 {
            let out = d.fit(max).text;
            assert!(out.len() <= max, "{max}: {out}");
            let shown = ["first", "second", "third"]
                .iter()
                .filter(|n| out.contains(&format!("more {n}")) || out.contains(&format!(">{n}<")))
                .count();
            // Every section is told of, once the line counting them fits: shown, or counted.
            let told = match 3 - shown {
                0 => !out.contains("not shown"),
                n => out.ends_with(&tally(n)),
            };
            if max >= CUT.len() + tally(3).len() {
                assert!(told, "{max}: {out}");
            } else {
                assert_eq!(shown, 0, "{max}: {out}");
            }
        }
        assert_eq!(
            d.fit(CUT.len() + tally(3).len()).text,
            CUT.to_owned() + &tally(3)
        );
        let first = "… and 50 more first\n\n";
        let out = d.fit(CUT.len() + first.len() + tally(2).len()).text;
        assert_eq!(out, format!("{CUT}{first}{}", tally(2)));
    }

    #[test]
    fn where_the_full_plan_is() {
        let ci = FullPlanAt::new(Some(Path::new("/runner/_work/plan-full.md")), true);
        assert_eq!(
            ci.clause(),
            "the full plan is in this run's job summary and artifact"
        );
        assert!(!ci.see().contains("runner"));
        let file = FullPlanAt::new(Some(Path::new("a`b|c\n[x](http://e.x).md")), false);
        assert_eq!(
            file.clause(),
            "the full plan is in ``a`b\\|c\\n[x](http://e.x).md``"
        );
        for at in [FullPlanAt::new(None, true), FullPlanAt::new(None, false)] {
            assert_eq!(
                at.clause(),
                "for the full plan, run the same `roster plan --format markdown` without `--max-bytes`"
            );
            assert_eq!(at.see(), "(full plan: run without `--max-bytes`)");
        }
    }
}
