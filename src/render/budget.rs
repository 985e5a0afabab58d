//! Fitting a Markdown document into a size budget (`--max-bytes`, GitHub's 65,536-character
//! comment limit): the parts that must be seen first and whole, then each list's first rows and
//! a line counting the rest. Cuts fall between whole items only (a table row, a list item), and a
//! part's head and tail (`<details>`, `</details>`) are kept or left out together, so the result
//! is the same Markdown, shorter.

/// One part of a document: a head, items, a tail.
pub(crate) struct Part {
    /// Lower is more important: filled first, cut last.
    rank: u8,
    head: String,
    items: Vec<String>,
    tail: String,
    /// The line standing for the items left out, given how many; `None` for a part without
    /// items.
    more: Option<Box<dyn Fn(usize) -> String>>,
    /// Shown whole whenever the must-keep parts fit; otherwise cut like any list.
    must: bool,
    /// May be left out entirely when even the must-keep parts do not fit.
    droppable: bool,
    /// Only in a cut document (the notice that says so).
    when_cut: bool,
}

impl Part {
    /// Text kept whole: a heading, a summary.
    pub fn fixed(rank: u8, text: impl Into<String>) -> Part {
        Part {
            rank,
            head: text.into(),
            items: Vec::new(),
            tail: String::new(),
            more: None,
            must: true,
            droppable: false,
            when_cut: false,
        }
    }

    /// A list whose first items are shown when the document is cut, then `more(n)`.
    pub fn list(
        rank: u8,
        head: impl Into<String>,
        items: Vec<String>,
        tail: impl Into<String>,
        more: impl Fn(usize) -> String + 'static,
    ) -> Part {
        Part {
            rank,
            head: head.into(),
            items,
            tail: tail.into(),
            more: Some(Box::new(more)),
            must: false,
            droppable: true,
            when_cut: false,
        }
    }

    /// Kept whole unless even the must-keep parts exceed the budget.
    pub fn must(mut self) -> Part {
        self.must = true;
        self
    }

    /// May be left out when even the must-keep parts exceed the budget.
    pub fn droppable(mut self) -> Part {
        self.droppable = true;
        self
    }

    /// Shown only when the document is cut.
    pub fn when_cut(mut self) -> Part {
        self.when_cut = true;
        self
    }

    fn whole_len(&self) -> usize {
        self.head.len() + self.items.iter().map(String::len).sum::<usize>() + self.tail.len()
    }

    fn more_len(&self, left: usize) -> usize {
        match (&self.more, left) {
            (Some(more), 1..) => more(left).len(),
            _ => 0,
        }
    }

    fn len(&self, state: State) -> usize {
        match state {
            State::Whole => self.whole_len(),
            State::Dropped => 0,
            State::Cut(k) => {
                self.head.len()
                    + self.items[..k].iter().map(String::len).sum::<usize>()
                    + self.more_len(self.items.len() - k)
                    + self.tail.len()
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Whole,
    /// The first `k` items, then the `more` line.
    Cut(usize),
    Dropped,
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
            out.push_str(&p.head);
            for i in &p.items {
                out.push_str(i);
            }
            out.push_str(&p.tail);
        }
        out
    }

    /// The document in at most `max` bytes: whole when it fits; else the must-keep parts whole
    /// and every list cut to its first items, filled in order of rank (lists of one rank in
    /// turn, one item each, so each shows its first rows). When even the must-keep parts exceed
    /// `max`, the least important give way first (cut to a count, or left out), and when even
    /// the heading and the notice cannot fit, `tiny` (or nothing) is all there is.
    pub fn fit(&self, max: usize, tiny: &str) -> String {
        let whole = self.whole();
        if whole.len() <= max {
            return whole;
        }
        let mut states: Vec<State> = self
            .parts
            .iter()
            .map(|p| {
                if p.more.is_some() && !p.must {
                    State::Cut(0)
                } else {
                    State::Whole
                }
            })
            .collect();
        let total = |states: &[State]| -> usize {
            self.parts.iter().zip(states).map(|(p, s)| p.len(*s)).sum()
        };
        let mut size = total(&states);
        // The least important first: by rank, lists cut to a count before anything is left
        // out, the last part first.
        if size > max {
            let mut order: Vec<usize> = (0..self.parts.len()).collect();
            order.sort_by_key(|&i| (std::cmp::Reverse(self.parts[i].rank), std::cmp::Reverse(i)));
            'ladder: for rank in (0..=u8::MAX).rev() {
                let at_rank: Vec<usize> = order
                    .iter()
                    .copied()
                    .filter(|&i| self.parts[i].rank == rank)
                    .collect();
                for stage in [State::Cut(0), State::Dropped] {
                    for &i in &at_rank {
                        let p = &self.parts[i];
                        let allowed = match stage {
                            State::Cut(_) => p.more.is_some() && states[i] == State::Whole,
                            _ => p.droppable && states[i] != State::Dropped,
                        };
                        if !allowed || p.len(stage) >= p.len(states[i]) {
                            continue;
                        }
                        states[i] = stage;
                        size = total(&states);
                        if size <= max {
                            break 'ladder;
                        }
                    }
                }
            }
        }
        if size > max {
            return if tiny.len() <= max {
                tiny.to_owned()
            } else {
                String::new()
            };
        }
        // Fill the cut lists, most important rank first, one item per list in turn.
        let mut ranks: Vec<u8> = self.parts.iter().map(|p| p.rank).collect();
        ranks.sort_unstable();
        ranks.dedup();
        for rank in ranks {
            let mut open: Vec<usize> = (0..self.parts.len())
                .filter(|&i| self.parts[i].rank == rank && matches!(states[i], State::Cut(_)))
                .collect();
            while !open.is_empty() {
                open.retain(|&i| {
                    let State::Cut(k) = states[i] else {
                        return false;
                    };
                    let p = &self.parts[i];
                    if k == p.items.len() {
                        return false;
                    }
                    let grown = size - p.len(State::Cut(k)) + p.len(State::Cut(k + 1));
                    if grown > max {
                        return false;
                    }
                    size = grown;
                    states[i] = State::Cut(k + 1);
                    true
                });
            }
        }
        let mut out = String::with_capacity(size);
        for (p, s) in self.parts.iter().zip(&states) {
            match *s {
                State::Dropped => {}
                State::Whole => {
                    out.push_str(&p.head);
                    p.items.iter().for_each(|i| out.push_str(i));
                    out.push_str(&p.tail);
                }
                State::Cut(k) => {
                    out.push_str(&p.head);
                    p.items[..k].iter().for_each(|i| out.push_str(i));
                    if k < p.items.len() {
                        if let Some(more) = &p.more {
                            out.push_str(&more(p.items.len() - k));
                        }
                    }
                    out.push_str(&p.tail);
                }
            }
        }
        debug_assert_eq!(out.len(), size);
        out
    }
}

/// The note at the top of a cut document.
pub(crate) fn notice(max: usize) -> String {
    format!(
        "> [!NOTE]\n> **Cut to fit {max} bytes.** Each section lists its first rows, then how many more it holds. Nothing is left out of the plan itself: the full plan is in this run's job summary and artifact, or run the same `roster plan` without `--max-bytes`.\n\n"
    )
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
        d.push(Part::fixed(0, notice(100)).when_cut());
        d.push(
            Part::list(
                1,
                "",
                (0..rows / 10).map(|i| format!("> warning {i}\n")).collect(),
                "\n",
                |n| format!("> … and {n} more warnings\n"),
            )
            .must(),
        );
        for name in ["a", "b"] {
            d.push(Part::list(
                4,
                format!("<details><summary>{name}</summary>\n\n| x |\n|---|\n"),
                (0..rows).map(|i| format!("| {name}{i} |\n")).collect(),
                "\n</details>\n\n",
                |n| format!("\n{}\n", more_line(n, "row", "rows")),
            ));
        }
        d.push(Part::fixed(9, "<sub>footer</sub>\n").droppable());
        d
    }

    #[test]
    fn whole_when_it_fits_and_never_over_the_budget() {
        let d = doc(200);
        let whole = d.whole();
        assert!(!whole.contains("[!NOTE]"));
        assert_eq!(d.fit(whole.len(), ""), whole);
        for max in 0..whole.len() {
            let out = d.fit(max, "cut");
            assert!(out.len() <= max, "{max}: {}", out.len());
            assert_eq!(
                out.matches("<details>").count(),
                out.matches("</details>").count(),
                "{out}"
            );
            // Nothing but the whole document's lines, the notice and the counts.
            let note = notice(100);
            assert!(
                out.lines().all(|l| whole.contains(l)
                    || note.contains(l)
                    || l.contains("more")
                    || l == "cut"),
                "{max}: {out}"
            );
            if out.len() > 4 {
                assert!(out.contains("Cut to fit"), "{max}: {out}");
            }
        }
    }

    #[test]
    fn lists_share_the_room_and_count_the_rest() {
        let d = doc(200);
        let out = d.fit(3000, "");
        let shown = |n: &str| out.matches(&format!("| {n}")).count();
        assert!(
            shown("a") > 10 && shown("a").abs_diff(shown("b")) <= 1,
            "{out}"
        );
        assert!(out.contains(&format!("… and {} more rows", 200 - shown("a"))));
        // The must-keep warnings are all there, whole.
        assert!(out.contains("> warning 19\n") && !out.contains("more warnings"));
        assert!(out.contains("<sub>footer</sub>"));
    }

    #[test]
    fn the_least_important_gives_way_when_the_must_keep_parts_do_not_fit() {
        let d = doc(2000);
        // 200 warnings are about 2.6 KB: at 1 KB they are cut to a count, the footer and the
        // lists' skeletons left out first.
        let out = d.fit(1000, "");
        assert!(out.len() <= 1000);
        assert!(out.starts_with("# Title\n\n> [!NOTE]"), "{out}");
        assert!(
            out.contains("> warning 0\n") && out.contains("more warnings"),
            "{out}"
        );
        assert!(
            !out.contains("footer") && !out.contains("<details>"),
            "{out}"
        );
        assert_eq!(d.fit(5, "tiny"), "tiny");
        assert_eq!(d.fit(3, "tiny"), "");
    }
}
