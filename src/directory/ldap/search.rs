//! Searching: the users and groups searches the config describes (filters checked, values
//! escaped per RFC 4515), paged (RFC 2696); a size or time limit that cuts a search short is an error.

use ldap3::adapters::{Adapter, PagedResults};
use ldap3::{Ldap, ResultEntry, Scope as LdapScope};

use crate::config::load::is_password_attribute;
use crate::config::{DirectoryConfig, DisabledRule, LdapConfig, Scope, SearchConfig};
use crate::model::{Entry, EntryBuilder};

use super::*;

/// Users when `users.filter` is not set: OpenLDAP / 389-DS / FreeIPA people (`inetOrgPerson`) and
/// Active Directory people (`objectCategory=person` keeps AD computer accounts, which are also of
/// class `user`, out). On servers without `objectCategory` that half is simply undefined.
pub const DEFAULT_USER_FILTER: &str =
    "(|(objectClass=inetOrgPerson)(&(objectCategory=person)(objectClass=user)))";

/// Groups when `groups.filter` is not set: `groupOfNames` (member), `groupOfUniqueNames`
/// (uniqueMember) and Active Directory `group` (member).
pub const DEFAULT_GROUP_FILTER: &str =
    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))";

/// Attributes fetched for every group entry: its classes and its members; on Active Directory
/// also its RID as `primaryGroupToken` (constructed, so only sent when asked for by name), which
/// the users whose primary group it is (Domain Users) hold in `primaryGroupID` instead of the
/// group holding them in `member`.
pub const GROUP_ATTRIBUTES: &[&str] = &[
    "objectClass",
    "cn",
    "member",
    "uniqueMember",
    "primaryGroupToken",
];

/// One search: where, what and which attributes.
#[derive(Debug, Clone)]
pub(super) struct Search {
    pub(super) what: &'static str,
    pub(super) base: String,
    pub(super) scope: LdapScope,
    pub(super) filter: String,
    pub(super) attrs: Vec<String>,
}

/// The searches of one read, built and checked before connecting.
pub(super) struct Searches {
    pub(super) users: Search,
    pub(super) groups: Search,
    pub(super) disabled: Option<Search>,
    pub(super) id_attribute: String,
}

impl Searches {
    pub(super) fn new(
        cfg: &LdapConfig,
        dir: &DirectoryConfig,
        attributes: &[String],
    ) -> Result<Searches, LdapError> {
        let mut user_attrs: Vec<String> = Vec::new();
        let mut want = |a: &str| {
            if !a.is_empty() && !user_attrs.iter().any(|x| x.eq_ignore_ascii_case(a)) {
                user_attrs.push(a.to_owned());
            }
        };
        want("objectClass");
        want(dir.id_attribute());
        want(dir.username_attribute());
        // Active Directory's primary group (Domain Users) is not in the group's `member`.
        want("primaryGroupID");
        match dir.disabled_rule() {
            Some(DisabledRule::ActiveDirectory) => want("userAccountControl"),
            Some(DisabledRule::Attribute(a)) => want(a),
            Some(DisabledRule::Filter(_)) | None => {}
        }
        // Password attributes are never read, whatever asks for them.
        attributes
            .iter()
            .filter(|a| !is_password_attribute(a))
            .for_each(|a| want(a));

        let users = search(
            "users",
            cfg,
            cfg.users.as_ref(),
            DEFAULT_USER_FILTER,
            user_attrs,
        )?;
        let mut group_attrs: Vec<String> =
            GROUP_ATTRIBUTES.iter().map(|s| (*s).to_owned()).collect();
        if !group_attrs
            .iter()
            .any(|a| a.eq_ignore_ascii_case(dir.id_attribute()))
        {
            group_attrs.push(dir.id_attribute().to_owned());
        }
        let groups = search(
            "groups",
            cfg,
            cfg.groups.as_ref(),
            DEFAULT_GROUP_FILTER,
            group_attrs,
        )?;
        let disabled = match &dir.disabled {
            Some(DisabledRule::Filter(f)) => {
                let f = parenthesise(f);
                check_filter("disabled", &f)?;
                Some(Search {
                    what: "disabled users",
                    filter: format!("(&{}{f})", users.filter),
                    attrs: vec!["1.1".to_owned()],
                    ..users.clone()
                })
            }
            _ => None,
        };
        Ok(Searches {
            users,
            groups,
            disabled,
            id_attribute: dir.id_attribute().to_ascii_lowercase(),
        })
    }
}

pub(super) fn search(
    what: &'static str,
    cfg: &LdapConfig,
    sc: Option<&SearchConfig>,
    default_filter: &str,
    attrs: Vec<String>,
) -> Result<Search, LdapError> {
    let filter = parenthesise(
        sc.and_then(|s| s.filter.as_deref())
            .unwrap_or(default_filter),
    );
    check_filter(what, &filter)?;
    Ok(Search {
        what,
        base: sc
            .and_then(|s| s.base.clone())
            .unwrap_or_else(|| cfg.base_dn.clone()),
        scope: match sc.and_then(|s| s.scope).unwrap_or(Scope::Sub) {
            Scope::Base => LdapScope::Base,
            Scope::One => LdapScope::OneLevel,
            Scope::Sub => LdapScope::Subtree,
        },
        filter,
        attrs,
    })
}

pub(super) fn parenthesise(filter: &str) -> String {
    let f = filter.trim();
    if f.starts_with('(') {
        f.to_owned()
    } else {
        format!("({f})")
    }
}

pub(super) fn check_filter(which: &'static str, filter: &str) -> Result<(), LdapError> {
    ldap3::parse_filter(filter)
        .map(|_| ())
        .map_err(|_| LdapError::Filter {
            which,
            filter: filter.to_owned(),
        })
}

/// Escape a value for use inside an LDAP filter (RFC 4515): `*`, `(`, `)`, `\` and NUL become
/// `\2a`, `\28`, `\29`, `\5c`, `\00`. Other characters, non-ASCII UTF-8 included, stand as they are
/// (RFC 4515 allows UTF-8 in values).
pub fn escape_filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// An equality filter `(attribute=value)` with the value escaped.
pub fn equality_filter(attribute: &str, value: &str) -> String {
    format!("({attribute}={})", escape_filter_value(value))
}

/// Run one search, paged, to the end, handing each entry to `deliver` as it is decoded. Entries
/// with AD ranged member values are held until the search ends, then completed and delivered.
pub(super) async fn run_search(
    ldap: &mut Ldap,
    t: &Target,
    s: &Search,
    id_attribute: &str,
    progress: &mut Progress,
    mut deliver: impl FnMut(Entry) -> Result<(), LdapError>,
) -> Result<(), Failure> {
    let during = format!("reading {} under {}", s.what, s.base);
    progress.phase(s.what);
    let mut count = 0;
    let mut ranged = Vec::new();
    let mut builder = EntryBuilder::default();
    let res = paged_search(ldap, t, s, &during, |re| {
        let (entry, ranges) =
            decode_entry(re, id_attribute, &mut builder).map_err(|d| d.into_error(t))?;
        log_entry(&entry);
        count += 1;
        progress.inc();
        if ranges.is_empty() {
            deliver(entry)
        } else {
            ranged.push((entry, ranges));
            Ok(())
        }
    })
    .await?;
    check_result(t, s, count, res.rc, res.text)?;
    for (mut entry, ranges) in ranged {
        for (attr, next) in ranges {
            fetch_ranges(ldap, t, &mut entry, &attr, next).await?;
        }
        deliver(entry)?;
    }
    Ok(())
}

pub(super) async fn paged_search(
    ldap: &mut Ldap,
    t: &Target,
    s: &Search,
    during: &str,
    mut each: impl FnMut(ResultEntry) -> Result<(), LdapError>,
) -> Result<ldap3::LdapResult, Failure> {
    let pages = PageCount::default();
    let adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> = vec![
        Box::new(PagedResults::new(t.page_size)),
        Box::new(pages.clone()),
    ];
    let clock = std::time::Instant::now();
    let mut entries = 0usize;
    let mut each = |re| {
        entries += 1;
        each(re)
    };
    let started = tokio::time::timeout(
        t.timeout,
        ldap.streaming_search_with(adapters, &s.base, s.scope, &s.filter, s.attrs.clone()),
    )
    .await;
    let mut stream = match started {
        Err(_) => return Err(timed_out(t, during)),
        Ok(r) => r.map_err(|e| op_failure(t, during, e))?,
    };
    loop {
        let next = tokio::time::timeout(t.timeout, stream.next()).await;
        match next {
            Err(_) => return Err(timed_out(t, during)),
            Ok(Err(e)) => return Err(op_failure(t, during, e)),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(re))) => {
                // Continuation references (AD's DomainDnsZones, ...) and intermediates are not entries.
                if !re.is_ref() && !re.is_intermediate() {
                    each(re)?;
                }
            }
        }
    }
    // A server that ignores the paging control stops at its size limit: `check_result` catches it.
    let res = stream.finish().await;
    tracing::debug!(
        url = %t.url,
        base = %crate::text::shown(&s.base),
        scope = ?s.scope,
        filter = %crate::text::shown(&s.filter),
        attributes = %s.attrs.join(","),
        page_size = t.page_size,
        pages = pages.0.load(std::sync::atomic::Ordering::Relaxed),
        entries,
        rc = res.rc,
        ms = crate::log::ms(clock),
        "ldap search"
    );
    Ok(res)
}

/// Counts the pages of a paged search for the log: placed after [`PagedResults`] in the chain,
/// it sees the end of each page's search (each answered with a cookie for the next, but the last).
#[derive(Debug, Clone, Default)]
struct PageCount(std::sync::Arc<std::sync::atomic::AtomicUsize>);

#[async_trait::async_trait]
impl<'a> Adapter<'a, String, Vec<String>> for PageCount {
    async fn start(
        &mut self,
        stream: &mut ldap3::SearchStream<'a, String, Vec<String>>,
        base: &str,
        scope: LdapScope,
        filter: &str,
        attrs: Vec<String>,
    ) -> ldap3::result::Result<()> {
        stream.start(base, scope, filter, attrs).await
    }

    async fn next(
        &mut self,
        stream: &mut ldap3::SearchStream<'a, String, Vec<String>>,
    ) -> ldap3::result::Result<Option<ResultEntry>> {
        let next = stream.next().await;
        if matches!(next, Ok(None)) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        next
    }

    async fn finish(
        &mut self,
        stream: &mut ldap3::SearchStream<'a, String, Vec<String>>,
    ) -> ldap3::LdapResult {
        stream.finish().await
    }
}

/// An entry as read, on the log at `-vv`: its DN and values (binary ones by size only).
fn log_entry(entry: &Entry) {
    if !tracing::enabled!(tracing::Level::TRACE) {
        return;
    }
    let mut attrs = serde_json::Map::new();
    for (name, values) in entry.attrs() {
        let shown = values
            .iter()
            .map(|v| match v {
                crate::model::Value::Text(t) => t.into(),
                crate::model::Value::Binary(b) => format!("<{} bytes>", b.len()).into(),
            })
            .collect();
        attrs.insert(name.to_owned(), serde_json::Value::Array(shown));
    }
    let text = serde_json::Value::Object(attrs).to_string();
    let body = crate::log::Body {
        text: &text,
        scrub: None,
    };
    tracing::trace!(dn = %crate::text::shown(entry.dn()), %body, "ldap entry");
}

pub(super) fn check_result(
    t: &Target,
    s: &Search,
    count: usize,
    rc: u32,
    message: String,
) -> Result<(), LdapError> {
    let at = format!("{} as {}", t.url, t.bind_dn());
    match rc {
        0 => Ok(()),
        3 | 4 | 11 => Err(LdapError::Truncated {
            at,
            base: s.base.clone(),
            count,
            rc,
            message,
            help: truncated_help(rc),
        }),
        _ => Err(LdapError::Search {
            at,
            base: s.base.clone(),
            rc,
            message,
            help: format!("{} (filter: {})", search_help(rc), s.filter),
        }),
    }
}
