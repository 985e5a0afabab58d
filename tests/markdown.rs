//! The Markdown plan as a pull-request comment: within its size budget (`--max-bytes`) at any
//! size, rendered by a CommonMark renderer (pulldown-cmark, with GitHub's tables) to check that
//! what a reviewer sees is what Roster meant: the summary table, the counts of what was cut,
//! balanced `<details>`, the impact's symbols not turned into nested lists.

use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::cli::roster_env;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The quickstart, copied into a temporary folder.
pub fn quickstart() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(root().join("examples/quickstart")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.path().join(f.file_name())).unwrap();
    }
    dir
}

/// The quickstart with `n` new hires in a second syncing group: a first run for them, `n`
/// creates, beside the quickstart's other changes.
fn with_new_hires(n: usize) -> tempfile::TempDir {
    let dir = quickstart();
    let p = dir.path();
    let mut ldif = std::fs::read_to_string(p.join("directory.ldif")).unwrap();
    let mut group = String::from(
        "dn: cn=new-hires,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: new-hires\n",
    );
    for i in 0..n {
        let uid = format!("hire{i:05}");
        ldif.push_str(&format!(
            "\ndn: uid={uid},ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: Given{i} Family{i}\ngivenName: Given{i}\nsn: Family{i}\nmail: {uid}@example.com\ntelephoneNumber: +1 555 {i:07}\ntitle: Title {}\ndepartmentNumber: Engineering\nentryUUID: 00000000-0000-4000-8000-{i:012}\n",
            i % 97
        ));
        group.push_str(&format!("member: uid={uid},ou=people,dc=example,dc=com\n"));
    }
    ldif.push('\n');
    ldif.push_str(&group);
    std::fs::write(p.join("directory.ldif"), ldif).unwrap();
    let cfg = std::fs::read_to_string(p.join("roster.yaml")).unwrap();
    let cfg = cfg.replace(
        "  - cn=intranet-users,ou=groups,dc=example,dc=com\n",
        "  - cn=intranet-users,ou=groups,dc=example,dc=com\n  - cn=new-hires,ou=groups,dc=example,dc=com\n",
    );
    std::fs::write(p.join("roster.yaml"), cfg).unwrap();
    dir
}

/// What a CommonMark renderer makes of `md`: the text of every table's cells, the text outside
/// tables, the HTML blocks, and how deep lists nest.
#[derive(Default, Debug)]
struct Rendered {
    cells: Vec<String>,
    /// The text of every code span, in cells or not.
    codes: Vec<String>,
    text: String,
    /// The text outside tables and code spans.
    plain: String,
    html: Vec<String>,
    deepest_list: usize,
}

fn render(md: &str) -> Rendered {
    let mut out = Rendered::default();
    let (mut in_cell, mut lists, mut cell) = (false, 0usize, String::new());
    for e in Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match e {
            Event::Start(Tag::TableCell) => {
                in_cell = true;
                cell.clear();
            }
            Event::End(TagEnd::TableCell) => {
                in_cell = false;
                out.cells.push(std::mem::take(&mut cell));
            }
            Event::Start(Tag::List(_)) => {
                lists += 1;
                out.deepest_list = out.deepest_list.max(lists);
            }
            Event::End(TagEnd::List(_)) => lists -= 1,
            Event::Code(t) if in_cell => {
                out.codes.push(t.to_string());
                cell.push_str(&t);
            }
            Event::Code(t) => {
                out.codes.push(t.to_string());
                out.text.push_str(&t);
                out.text.push('\n');
            }
            Event::Text(t) if in_cell => cell.push_str(&t),
            Event::Text(t) => {
                out.text.push_str(&t);
                out.text.push('\n');
                out.plain.push_str(&t);
                out.plain.push('\n');
            }
            Event::Html(h) => out.html.push(h.to_string()),
            _ => {}
        }
    }
    out
}

/// Balanced `<details>` in the HTML blocks a renderer found.
fn balanced(r: &Rendered) -> bool {
    let count = |tag: &str| r.html.iter().map(|h| h.matches(tag).count()).sum::<usize>();
    count("<details") == count("</details>") && count("<details") > 0
}

/// Roster outside GitHub Actions, whatever runs the tests (a cut plan's wording depends on it).
fn run(dir: &Path, args: &[&str]) -> crate::cli::Run {
    roster_env(dir, args, &[("ROSTER_FULL_PLAN", "")])
}

#[test]
fn md_a_first_run_of_5000_creates_fits_a_github_comment() {
    let dir = with_new_hires(5000);
    let full = run(dir.path(), &["plan", "--format", "markdown"]);
    assert_eq!(full.code, 0, "{}", full.stderr);
    assert!(full.stdout.len() > 200_000, "{}", full.stdout.len());
    let cut = run(
        dir.path(),
        &[
            "plan",
            "--format",
            "markdown",
            "--max-bytes",
            "65536",
            "--full-markdown",
            "full.md",
        ],
    );
    assert_eq!(cut.code, 0, "{}", cut.stderr);
    let md = &cut.stdout;
    assert!(md.len() <= 65536, "{}", md.len());
    assert!(md.len() > 60_000, "the budget is used: {}", md.len());
    // The full plan, from the same read, is the uncut one.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("full.md")).unwrap(),
        full.stdout
    );
    let r = render(md);
    assert!(balanced(&r), "{:?}", r.html);
    assert!(r.text.contains("Cut to fit 65536 bytes."), "{}", r.text);
    assert!(r.text.contains("Plan: 5002 to create"), "{}", r.text);
    // The summary table, every action counted.
    let at = r.cells.iter().position(|c| c == "Action").unwrap();
    assert_eq!(r.cells[at..at + 4], ["Action", "Count", "+ create", "5002"]);
    // Every section is there, with its first rows; the creates are cut and counted.
    for a in roster::plan::Action::ALL {
        assert!(
            r.html
                .iter()
                .any(|h| h.contains(&format!(" {} (", a.name()))),
            "{a:?}: {:?}",
            r.html
        );
    }
    // An account's first row names it.
    let shown = r
        .cells
        .iter()
        .filter(|c| c.starts_with("hire") && !c.contains('@'))
        .count();
    assert!(shown > 20, "{shown}");
    // The hires sort before the quickstart's two new people, who are among those cut.
    let more = format!("… and {} more accounts to create", 5002 - shown);
    assert!(r.text.contains(&more), "{more}\n{}", r.text);
    // The blocks, fewer than the room, are all shown, and open.
    assert!(r
        .html
        .iter()
        .any(|h| h.contains("<details open><summary>⊘ block (5)")));
    assert!(r.cells.iter().any(|c| c == "block support.bot"));
    // A create names the syncing group that holds the person (the first, in the config's order).
    assert!(
        md.contains("| hire00000 | department | *(none)* | `Engineering` | enabled member of syncing group cn=new-hires,ou=groups,dc=example,dc=com without an account |"),
        "{md}"
    );
    // Tables are never cut within a row: every row of the create table has its five cells.
    let rows = md.lines().filter(|l| l.starts_with("| hire")).count();
    assert_eq!(rows, shown);
}

#[test]
fn md_never_over_the_budget_and_always_valid() {
    let dir = with_new_hires(300);
    let full = run(dir.path(), &["plan", "--format", "markdown"]);
    let whole = full.stdout.len();
    // A sweep over budgets from nothing to more than the whole plan.
    for max in (0..whole + 2000).step_by(whole / 23) {
        let r = run(
            dir.path(),
            &[
                "plan",
                "--format",
                "markdown",
                "--max-bytes",
                &max.to_string(),
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let md = &r.stdout;
        assert!(md.len() <= max, "{max}: {}", md.len());
        if max >= whole {
            assert_eq!(md, &full.stdout);
            continue;
        }
        let rendered = render(md);
        if md.contains("<details") {
            assert!(balanced(&rendered), "{max}: {md}");
        }
        if max >= 1500 {
            // The must-keep parts: the summary, the warnings, the table.
            assert!(rendered.text.contains("Cut to fit"), "{max}: {md}");
            assert!(rendered.text.contains("Plan: 302 to create"), "{max}: {md}");
            assert!(rendered.cells.iter().any(|c| c == "Action"), "{max}: {md}");
        }
    }
}

#[test]
fn md_max_bytes_is_for_markdown_only() {
    let dir = quickstart();
    let r = run(dir.path(), &["plan", "--max-bytes", "1000"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("--max-bytes sizes the Markdown plan only"),
        "{}",
        r.stderr
    );
}

#[test]
fn md_links_creates_and_blocks_say_why() {
    let dir = quickstart();
    let r = run(dir.path(), &["plan", "--format", "markdown"]);
    let rendered = render(&r.stdout);
    let cells = &rendered.cells;
    // The link row names the directory ID it sets and the reason.
    let link = cells
        .iter()
        .position(|c| c.starts_with("ivan.petrov → directory ID "))
        .unwrap_or_else(|| panic!("{cells:?}"));
    assert!(cells[link + 4].contains("policy.adopt"), "{cells:?}");
    // A create's first row says why.
    let create = cells.iter().position(|c| c == "nina.new").unwrap();
    assert!(cells[create + 4].contains("syncing group"), "{cells:?}");
    assert!(rendered
        .html
        .iter()
        .any(|h| h.starts_with("<details open><summary>⊘ block")));
}

#[test]
fn md_impact_symbols_are_not_nested_lists() {
    // Granting a role is a `+` the change causes; the quickstart's revokes are `-` drift.
    let dir = crate::gitops::repo(|c| {
        c.replace(
            "      users: [breakglass]",
            "      users: [breakglass, ada.lovelace]",
        )
    });
    let r = run(
        dir.path(),
        &["plan", "--base", "HEAD~1", "--format", "markdown"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rendered = render(&r.stdout);
    assert_eq!(rendered.deepest_list, 1, "{}", r.stdout);
    assert!(
        rendered.text.contains("+\n grant ada.lovelace (sysadmin)"),
        "{}",
        rendered.text
    );
    assert!(rendered.text.contains("-\n revoke "), "{}", rendered.text);
    assert!(balanced(&rendered));
    // Cut, the impact keeps its effects and counts the rest.
    let r = run(
        dir.path(),
        &[
            "plan",
            "--base",
            "HEAD~1",
            "--format",
            "markdown",
            "--max-bytes",
            "1200",
        ],
    );
    assert!(r.stdout.len() <= 1200, "{}", r.stdout.len());
    let rendered = render(&r.stdout);
    assert!(
        rendered
            .cells
            .iter()
            .any(|c| c == "+ grants sysadmin to 1 account"),
        "{}",
        r.stdout
    );
    assert!(rendered.text.contains("more drift changes"), "{}", r.stdout);
}

#[test]
fn md_impact_credits_a_refusal_to_the_change_and_shows_names_as_code() {
    // A tighter block limit refuses the quickstart's five blocks (drift, in both plans): the
    // refusal is this change's doing. The remap avoids grace.hopper's title revert ("no longer").
    let dir = crate::gitops::repo(|c| {
        c.replace("  adopt: true", "  adopt: true\n  max_blocks: 1")
            .replace("  job_title: title", "  job_title: description")
    });
    let r = run(
        dir.path(),
        &["plan", "--base", "HEAD~1", "--format", "markdown"],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    let rendered = render(&r.stdout);
    assert!(
        rendered.text.contains(
            "This change makes the plan refused by the safety policy:\n the plan blocks 5 accounts, over policy.max_blocks (1)"
        ),
        "{}",
        rendered.text
    );
    // The refusal comes first, before the config change that causes it.
    assert!(
        r.stdout.find("[!CAUTION]").unwrap() < r.stdout.find("- maps job_title").unwrap(),
        "{}",
        r.stdout
    );
    // Names in Roster's own words are code spans, not escaped backticks.
    for name in ["description", "title"] {
        assert!(
            rendered.codes.iter().any(|c| c == name),
            "{name}: {:?}",
            rendered.codes
        );
    }
    assert!(!rendered.text.contains('`'), "{}", rendered.text);
    // What the change avoids keeps its action's symbol.
    assert!(
        rendered
            .text
            .contains("~\n no longer: update grace.hopper job_title"),
        "{}",
        rendered.text
    );
    assert_eq!(rendered.deepest_list, 1, "{}", r.stdout);
    let r = run(dir.path(), &["plan", "--base", "HEAD~1"]);
    assert!(
        r.stdout
            .contains("It makes the plan refused by the safety policy: the plan blocks 5 accounts")
            && r.stdout
                .contains("~ (no longer) update grace.hopper job_title"),
        "{}",
        r.stdout
    );
}

#[test]
fn md_a_refused_plan_says_so_first_even_when_cut() {
    let dir = crate::gitops::repo(|c| {
        c.replace("  - cn=intranet-users,ou=groups,dc=example,dc=com", "  - cn=engineering,ou=groups,dc=example,dc=com\n  - cn=it-admins,ou=groups,dc=example,dc=com")
    });
    let r = run(
        dir.path(),
        &["plan", "--format", "markdown", "--max-bytes", "2500"],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stdout.len() <= 2500);
    let rendered = render(&r.stdout);
    let refused = rendered.text.find("Refused by the safety policy").unwrap();
    assert!(
        refused < rendered.text.find("Plan: ").unwrap(),
        "{}",
        rendered.text
    );
    assert!(
        rendered.text.contains("--allow-blocks 13"),
        "{}",
        rendered.text
    );
    assert!(balanced(&rendered), "{}", r.stdout);
}

/// The quickstart under a policy it breaks: 5 blocks over `max_blocks: 2`, 2 revokes over
/// `max_revokes: 1`.
fn refused() -> tempfile::TempDir {
    under_policy("  max_blocks: 2\n  max_revokes: 1\n")
}

/// The quickstart with these lines added to its `policy:`.
fn under_policy(lines: &str) -> tempfile::TempDir {
    let dir = quickstart();
    let cfg = dir.path().join("roster.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("policy:\n", &format!("policy:\n{lines}")),
    )
    .unwrap();
    dir
}

const FIRST_RULE: &str = "the plan blocks 5 accounts, over policy.max_blocks (2)";
const SUMMARY: &str = "**Plan: 2 to create, 1 to link, 1 to rename, 6 to update";
const TOO_SMALL: &str = "is too small for the plan's summary;";

fn cut(dir: &Path, max: usize) -> crate::cli::Run {
    let r = run(
        dir,
        &[
            "plan",
            "--format",
            "markdown",
            "--max-bytes",
            &max.to_string(),
        ],
    );
    // Refused, whatever the budget.
    assert_eq!(r.code, 4, "{max}: {}", r.stderr);
    assert!(r.stdout.len() <= max, "{max}: {}", r.stdout.len());
    r
}

#[test]
fn md_a_refused_plan_keeps_its_rules_summary_and_blocks_at_small_budgets() {
    let dir = refused();
    for max in [700, 1000, 1500] {
        let r = cut(dir.path(), max);
        let md = &r.stdout;
        assert!(
            md.contains("**Refused by the safety policy** (2 rules)"),
            "{max}: {md}"
        );
        assert!(md.contains(FIRST_RULE), "{max}: {md}");
        assert!(md.contains(SUMMARY), "{max}: {md}");
        // The refusal, then the summary.
        assert!(md.find(FIRST_RULE) < md.find(SUMMARY), "{max}: {md}");
        // No section is a heading-only table.
        assert!(!md.contains("|---|\n\n"), "{max}: {md}");
        assert!(!r.stderr.contains(TOO_SMALL), "{max}: {}", r.stderr);
        let rendered = render(md);
        if md.contains("<details") {
            assert!(balanced(&rendered), "{max}: {md}");
        }
    }
    // At 1500 bytes the blocks show their rows; the other sections count theirs.
    let md = cut(dir.path(), 1500).stdout;
    assert!(
        render(&md).cells.iter().any(|c| c == "block carl.former"),
        "{md}"
    );
    assert!(md.contains("2 accounts to create, not shown"), "{md}");
    assert!(!md.contains("<summary>+ create"), "{md}");
    // At 300 bytes the refusal's first line and the summary line.
    let r = cut(dir.path(), 300);
    assert!(
        r.stdout.contains("Refused by the safety policy"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(SUMMARY), "{}", r.stdout);
}

#[test]
fn md_a_budget_too_small_for_the_summary_says_so() {
    let dir = refused();
    // Too small for anything: nothing on stdout, a warning on stderr, the plan's exit code.
    let r = cut(dir.path(), 10);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains(&format!("--max-bytes 10 {TOO_SMALL}")),
        "{}",
        r.stderr
    );
    // Too small for the refusal's first line: the shortest honest line that fits.
    let r = cut(dir.path(), 60);
    assert!(r.stdout.contains("refused"), "{}", r.stdout);
    assert!(r.stderr.contains(TOO_SMALL), "{}", r.stderr);
    // A plan not refused: its summary when it fits, else the short line and the warning.
    let dir = quickstart();
    let r = run(
        dir.path(),
        &["plan", "--format", "markdown", "--max-bytes", "200"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(SUMMARY), "{}", r.stdout);
    assert!(!r.stderr.contains(TOO_SMALL), "{}", r.stderr);
    let r = run(
        dir.path(),
        &["plan", "--format", "markdown", "--max-bytes", "100"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "**Roster plan: too large for this comment; see the full plan.**\n"
    );
    assert!(r.stderr.contains(TOO_SMALL), "{}", r.stderr);
}

#[test]
fn md_a_refused_plan_at_every_budget() {
    let dir = refused();
    let full = run(dir.path(), &["plan", "--format", "markdown"]).stdout;
    // The refusal's first line (with the blank line after it).
    let head = "> [!CAUTION]\n> **Refused by the safety policy** (2 rules): nothing was changed, and this plan cannot be applied.\n";
    assert!(full.contains(head), "{full}");
    let summary_line = full.lines().find(|l| l.starts_with(SUMMARY)).unwrap();
    // Every byte where the first lines are decided, then in steps to the whole plan.
    let budgets = (0..400).chain((400..full.len() + 20).step_by(17));
    for max in budgets {
        let r = cut(dir.path(), max);
        let md = &r.stdout;
        if max >= full.len() {
            assert_eq!(md, &full);
            continue;
        }
        if max > head.len() {
            assert!(md.contains(head), "{max}: {md}");
        }
        if max > head.len() + summary_line.len() + 3 {
            assert!(md.contains(summary_line), "{max}: {md}");
        }
        // The warning exactly when the summary is missing.
        assert_eq!(
            r.stderr.contains(TOO_SMALL),
            !md.contains(summary_line),
            "{max}: {md}\n{}",
            r.stderr
        );
        assert!(!md.contains("|---|\n\n"), "{max}: {md}");
        if md.contains("<details") {
            assert!(balanced(&render(md)), "{max}: {md}");
        }
    }
}

/// The quickstart refused as the reviewer had it: `policy.max_blocks: 2` (5 blocks).
fn refused_once() -> tempfile::TempDir {
    under_policy("  max_blocks: 2\n")
}

fn markdown_at(dir: &Path, max: usize, more: &[&str], env: &[(&str, &str)]) -> crate::cli::Run {
    let max = max.to_string();
    let mut args = vec!["plan", "--format", "markdown", "--max-bytes", &max];
    args.extend(more);
    let mut all = vec![("ROSTER_FULL_PLAN", "")];
    all.extend(env);
    roster_env(dir, &args, &all)
}

#[test]
fn md_a_cut_plan_says_where_the_full_plan_is() {
    let dir = refused_once();
    let p = dir.path();
    // No --full-markdown (whether or not a caller publishes one): run it again without
    // --max-bytes.
    for env in [&[][..], &[("ROSTER_FULL_PLAN", "job-summary")][..]] {
        let r = markdown_at(p, 1500, &[], env);
        let md = &r.stdout;
        assert!(md.contains("**Cut to fit 1500 bytes**: for the full plan, run the same `roster plan --format markdown` without `--max-bytes`."), "{env:?}: {md}");
        assert!(
            md.contains("2 accounts to create, not shown (full plan: run without `--max-bytes`)"),
            "{env:?}: {md}"
        );
        assert!(
            !md.contains("job summary") && !md.contains("artifact"),
            "{env:?}: {md}"
        );
    }
    // The file, named as given, as a code span (a Markdown or HTML name stays text); in
    // another GitHub workflow too, which publishes no job summary of it.
    let name = "plan <b>*full* [x](http:e.x) `q`.md";
    let r = markdown_at(
        p,
        1500,
        &["--full-markdown", name],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert!(p.join(name).exists());
    let rendered = render(&r.stdout);
    assert!(
        rendered.text.contains(&format!(
            "Cut to fit 1500 bytes\n: the full plan is in \n{name}\n."
        )),
        "{}",
        r.stdout
    );
    assert!(
        rendered.codes.iter().filter(|c| *c == name).count() > 1,
        "{}",
        r.stdout
    );
    assert!(
        rendered.html.iter().all(|h| !h.contains("<b>")),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("job summary") && !r.stdout.contains("without `--max-bytes`"),
        "{}",
        r.stdout
    );
    // The reusable workflow (ROSTER_FULL_PLAN=job-summary, with --full-markdown): the job
    // summary and the artifact, never the runner's file path.
    let file = p.join("plan-full.md");
    let file = file.to_str().unwrap();
    let r = markdown_at(
        p,
        1500,
        &["--full-markdown", file],
        &[("ROSTER_FULL_PLAN", "job-summary")],
    );
    let md = &r.stdout;
    assert!(
        md.contains(
            "**Cut to fit 1500 bytes**: the full plan is in this run's job summary and artifact."
        ),
        "{md}"
    );
    assert!(
        md.contains("2 accounts to create, not shown (full plan: job summary or artifact)"),
        "{md}"
    );
    assert!(
        !md.contains("plan-full") && !md.contains(&p.display().to_string()),
        "{md}"
    );
}

#[test]
fn md_a_budget_too_small_names_the_full_plan_only_when_there_is_one() {
    let dir = refused_once();
    let p = dir.path();
    let r = markdown_at(p, 10, &[], &[]);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains("warning: --max-bytes 10 is too small for the plan's summary; give a larger N, or add --full-markdown FILE to write the full plan"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("the full plan is in"), "{}", r.stderr);
    let r = markdown_at(p, 10, &["--full-markdown", "all of it.md"], &[]);
    assert!(
        r.stderr.contains("warning: --max-bytes 10 is too small for the plan's summary; the full plan is in all of it.md"),
        "{}",
        r.stderr
    );
    assert!(p.join("all of it.md").exists());
}

/// The sections of a cut plan and how each is told of: its rows, its count line, or the line
/// counting the sections not shown.
fn told(md: &str) -> (Vec<&'static str>, usize) {
    let sections = [
        ("⊘ block (", "to block"),
        ("+ create (", "to create"),
        ("& link (", "to link"),
        ("→ rename (", "rename"),
        ("~ update (", "to update"),
        ("↑ reactivate (", "to reactivate"),
        ("+ grant (", "role grant"),
        ("- revoke (", "role revoke"),
    ];
    let shown = sections
        .iter()
        .filter(|(head, count)| {
            md.contains(&format!("<summary>{head}"))
                || md.lines().any(|l| {
                    (l.starts_with("… and ") || l.contains(", not shown (full plan"))
                        && l.contains(count)
                })
        })
        .map(|(head, _)| *head)
        .collect();
    let counted = md
        .lines()
        .find_map(|l| {
            l.strip_suffix(" more sections not shown (see the full plan)")
                .or_else(|| l.strip_suffix(" more section not shown (see the full plan)"))
        })
        .map_or(0, |n| n.parse().unwrap());
    (shown, counted)
}

#[test]
fn md_no_section_vanishes_without_a_trace() {
    let dir = refused_once();
    let p = dir.path();
    // The reviewer's budgets: every section is there, the blocks first.
    for max in [600, 1200] {
        let md = markdown_at(p, max, &[], &[]).stdout;
        assert!(md.len() <= max);
        let (shown, counted) = told(&md);
        assert_eq!(shown.len() + counted, 8, "{max}: {md}");
        assert_eq!(shown[0], "⊘ block (", "{max}: {md}");
        assert!(render(&md).text.contains("Cut to fit"), "{max}: {md}");
    }
    // At 1200 every section has its count line at the least.
    let md = markdown_at(p, 1200, &[], &[]).stdout;
    assert_eq!(told(&md), (told(&md).0, 0), "{md}");
    assert_eq!(told(&md).0.len(), 8, "{md}");
    // At 320, the refusal and the summary, and a line saying the plan is cut (below that, no
    // room is left for the line once the summary is whole).
    let md = markdown_at(p, 320, &[], &[]).stdout;
    let rendered = render(&md);
    assert!(rendered.text.contains("Cut to fit"), "{md}");
    assert!(
        rendered.text.contains("Refused by the safety policy"),
        "{md}"
    );
    assert!(md.contains(SUMMARY), "{md}");
    // At every budget from there: cut, it says so; a section is there only with every other
    // told of (with rows, a count line, or in the line counting those not shown), the blocks
    // first; from 600 bytes every section is told of; the same budget, the same text.
    let full = run(p, &["plan", "--format", "markdown"]).stdout;
    for max in (320..full.len()).step_by(7) {
        let md = markdown_at(p, max, &[], &[]).stdout;
        assert!(md.len() <= max, "{max}");
        let rendered = render(&md);
        assert!(rendered.text.contains("Cut to fit"), "{max}: {md}");
        let (shown, counted) = told(&md);
        if !shown.is_empty() || counted > 0 || max >= 600 {
            assert_eq!(shown.len() + counted, 8, "{max}: {md}");
        }
        if let Some(first) = shown.first() {
            assert_eq!(*first, "⊘ block (", "{max}: {md}");
        }
        if md.contains("<details") {
            assert!(balanced(&rendered), "{max}: {md}");
        }
        assert!(!md.contains("|---|\n\n"), "{max}: {md}");
    }
    assert_eq!(
        markdown_at(p, 900, &[], &[]).stdout,
        markdown_at(p, 900, &[], &[]).stdout
    );
}

#[test]
fn md_a_cut_impact_keeps_the_drift_section() {
    // The change syncs 80 new hires: 80 creates it causes, beside the quickstart's 20 changes
    // of drift.
    let hires = with_new_hires(80);
    let cfg = std::fs::read_to_string(hires.path().join("roster.yaml")).unwrap();
    let dir = crate::gitops::repo(|_| cfg);
    let p = dir.path();
    std::fs::copy(
        hires.path().join("directory.ldif"),
        p.join("directory.ldif"),
    )
    .unwrap();
    let cut = |max: usize| {
        let max = max.to_string();
        let args = [
            "plan",
            "--base",
            "HEAD~1",
            "--format",
            "markdown",
            "--max-bytes",
            &max,
        ];
        run(p, &args)
    };
    let r = cut(3000);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let md = &r.stdout;
    assert!(md.len() <= 3000);
    let rendered = render(md);
    assert!(balanced(&rendered), "{md}");
    assert!(rendered.text.contains("Cut to fit 3000 bytes"), "{md}");
    assert!(
        md.contains("<summary>Changes caused by this change</summary>"),
        "{md}"
    );
    assert!(
        md.contains(
            "<summary>Drift: 20 changes in both plans, not caused by this change</summary>"
        ) || md.contains("20 drift changes, not shown"),
        "{md}"
    );
    // At tighter budgets: the sections' count lines, or the line counting those left out;
    // the changes it causes before the drift.
    let mut seen = std::collections::BTreeSet::new();
    for max in (200..1600).step_by(10) {
        let md = cut(max).stdout;
        assert!(md.len() <= max, "{max}");
        let caused = md.contains("more changes caused by this change")
            || md.contains("changes caused by this change, not shown")
            || md.contains("<summary>Changes caused");
        let drift = md.contains("more drift changes")
            || md.contains("drift changes, not shown")
            || md.contains("<summary>Drift");
        let counted = md
            .lines()
            .find_map(|l| l.strip_suffix(" not shown (see the full plan)"));
        match (caused, drift, counted) {
            (true, true, None)
            | (true, false, Some("1 more section"))
            | (false, false, Some("2 more sections")) => seen.insert((caused, drift)),
            // Too small for the effects: no section yet.
            (false, false, None) => false,
            other => panic!("{max}: {other:?}\n{md}"),
        };
        if md.contains("<details") {
            assert!(balanced(&render(&md)), "{max}: {md}");
        }
    }
    assert!(
        seen.contains(&(true, true)) && seen.contains(&(true, false)),
        "{seen:?}"
    );
}

#[test]
fn md_impact_values_are_code_spans_not_links() {
    // job_title from `description`: ada.lovelace's is a URL.
    let dir = crate::gitops::repo(|c| c.replace("  job_title: title", "  job_title: description"));
    let ldif = dir.path().join("directory.ldif");
    let text = std::fs::read_to_string(&ldif).unwrap();
    std::fs::write(
        &ldif,
        text.replace(
            "uid: ada.lovelace\n",
            "uid: ada.lovelace\ndescription: http://e.x\n",
        ),
    )
    .unwrap();
    let r = run(
        dir.path(),
        &["plan", "--base", "HEAD~1", "--format", "markdown"],
    );
    let rendered = render(&r.stdout);
    assert!(
        r.stdout
            .contains("update ada.lovelace job_title: `Principal Engineer` → `http://e.x`"),
        "{}",
        r.stdout
    );
    assert!(
        rendered.codes.iter().any(|c| c == "http://e.x"),
        "{:?}",
        rendered.codes
    );
    assert!(!rendered.plain.contains("http://e.x"), "{}", rendered.plain);
    // The text impact is as it was.
    let r = run(dir.path(), &["plan", "--base", "HEAD~1"]);
    assert!(
        r.stdout
            .contains(r#"update ada.lovelace job_title: "Principal Engineer" → "http://e.x""#),
        "{}",
        r.stdout
    );
}
