//! Fitting a Markdown document into a size budget (`--max-bytes`, GitHub's 65,536-character
//! comment limit): the parts filled in order of importance (each part's rank, then its rows'),
//! each list showing its first rows and a line counting the rest. Cuts fall between whole items
//! only (a table row, a list item), and a part's head and tail (`<details>`, `</details>`) are
//! kept or left out together, so the result is the same Markdown, shorter.

type More = Box<dyn Fn(usize) -> String>;

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
        }
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
    pub fn push(&mut self, part: Part) {
        self.parts.push(part);
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
        // Moves part `i` to `to` when the document still fits.
        let mut try_to = |states: &mut Vec<State>, i: usize, to: State| -> bool {
            let p = &self.parts[i];
            let grown = size - p.len(states[i]) + p.len(to);
            if grown > max {
                return false;
            }
            size = grown;
            states[i] = to;
            true
        };
        for rank in ranks {
            for (i, p) in self.parts.iter().enumerate() {
                if p.rank == rank {
                    // An optional count line waits for the room left at the end.
                    let more = !p.more_optional;
                    try_to(
                        &mut states,
                        i,
                        State {
                            on: true,
                            more,
                            ..off
                        },
                    );
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
        for (p, s) in self.parts.iter().zip(&states) {
            if complete || p.rank < before {
                p.render(*s, &mut text);
            }
        }
        debug_assert!(text.len() <= max);
        Fitted { text, complete }
    }
}

/// The note at the top of a cut document: short, then whole when there is room.
pub(crate) fn notice(rank: u8, full_rank: u8, max: usize) -> Part {
    Part::fixed_short(
        rank,
        format!("> [!NOTE]\n> **Cut to fit {max} bytes**: the full plan is in this run's job summary and artifact.\n\n"),
        format!(
            "> [!NOTE]\n> **Cut to fit {max} bytes.** Each section lists its first rows, then how many more it holds. Nothing is left out of the plan itself: the full plan is in this run's job summary and artifact, or run the same `roster plan` without `--max-bytes`.\n\n"
        ),
        full_rank,
    )
    .when_cut()
}

/// The longest of `lines` that fits in `max` bytes, or nothing.
pub(crate) fn fallback(max: usize, lines: &[&str]) -> String {
    lines
        .iter()
        .find(|l| l.len() <= max)
        .map_or_else(String::new, |l| (*l).to_owned())
}

/// "… and 4880 more creates (see the full plan in the job summary or artifact)".
pub(crate) fn more_line(n: usize, one: &str, many: &str) -> String {
    format!(
        "… and {n} more {} (see the full plan in the job summary or artifact)",
        if n == 1 { one } else { many }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(rows: usize) -> Doc {
        let mut d = Doc::default();
        d.push(Part::fixed(0, "# Title\n\n"));
        d.push(notice(0, 8, 100));
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
                    |n| format!("\n{}\n", more_line(n, "row", "rows")),
                )
                .bare(|n| format!("{}\n\n", more_line(n, "row", "rows"))),
            );
        }
        d.push(Part::fixed(9, "<sub>footer</sub>\n"));
        d
    }

    #[test]
    fn whole_when_it_fits_and_never_over_the_budget() {
        let d = doc(200);
        let whole = d.whole();
        assert!(!whole.contains("[!NOTE]"));
        assert_eq!(d.fit(whole.len()).text, whole);
        let note = notice(0, 0, 100).items.concat() + &notice(0, 0, 100).short.unwrap().0[0];
        for max in 0..whole.len() {
            let out = d.fit(max).text;
            assert!(out.len() <= max, "{max}: {}", out.len());
            assert_eq!(
                out.matches("<details>").count(),
                out.matches("</details>").count(),
                "{out}"
            );
            // Nothing but the whole document's lines, the notice and the counts.
            assert!(
                out.lines()
                    .all(|l| whole.contains(l) || note.contains(l) || l.contains("more")),
                "{max}: {out}"
            );
            // No heading-only table.
            assert!(!out.contains("|---|\n\n"), "{max}: {out}");
            if out.len() > 100 {
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
        assert!(out.contains(&format!("… and {} more rows", 200 - shown("a"))));
        // The more important warnings are all there, whole.
        assert!(out.contains("> warning 19\n") && !out.contains("more warnings"));
        assert!(!out.contains("<sub>footer</sub>"));
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
}
