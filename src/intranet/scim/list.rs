//! Reads: paged, concurrent listing of an endpoint with every page checked (`startIndex`,
//! `count`, `totalResults`), the totals, the bounds on a read (`max_resources`, `read_timeout`),
//! and the attributes a read asks for.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::Value;

use super::{require_schemas, Capabilities, Endpoint, ScimClient, ScimError};
use crate::intranet::fields::Field;
use crate::intranet::snapshot::{state_from_resources, to_snapshot, Resources};
use crate::model::IntranetState;

/// Page size asked for when the server announces no `maxResults`. The server may answer with
/// fewer per page; paging follows what it really returns.
const DEFAULT_PAGE: usize = 1000;

impl ScimClient {
    /// Every resource of an endpoint. The first page tells the total and the real page size;
    /// the remaining pages are then fetched concurrently, and any gap a short page leaves is
    /// filled sequentially. `attributes` limits what the server returns (empty: everything).
    pub async fn list_all(
        &self,
        endpoint: Endpoint,
        attributes: &[String],
        page_size: Option<usize>,
    ) -> Result<Vec<Value>, ScimError> {
        self.list_where(endpoint, attributes, page_size, None).await
    }

    /// The resources of an endpoint that match a SCIM `filter` (all of them without one), paged
    /// as [`ScimClient::list_all`] pages.
    ///
    /// Every page is checked: it must echo the `startIndex` asked for, hold no more than the
    /// `count` asked for, and repeat the first page's `totalResults`; at the end the distinct
    /// resources must be exactly `totalResults`, none read twice, and each resource well formed
    /// ([`crate::intranet::snapshot::user_problems`]). A `totalResults` above `max_resources` is
    /// refused before paging, and the whole read is bounded by `read_timeout`.
    ///
    /// A service that changes while it is read (a User created or deleted mid-read) shifts its
    /// pages, which looks like a repeated or missing resource: such a read is tried once more
    /// from the start, and an error if it does not add up again.
    pub async fn list_where(
        &self,
        endpoint: Endpoint,
        attributes: &[String],
        page_size: Option<usize>,
        filter: Option<&str>,
    ) -> Result<Vec<Value>, ScimError> {
        let read = async {
            match self
                .list_once(endpoint, attributes, page_size, filter)
                .await
            {
                Err(Listing::Skewed(_)) => self
                    .list_once(endpoint, attributes, page_size, filter)
                    .await
                    .map_err(Listing::into_error),
                other => other.map_err(Listing::into_error),
            }
        };
        match tokio::time::timeout(self.opts.read_timeout, read).await {
            Ok(result) => result,
            Err(_) => Err(ScimError::ReadTimeout {
                url: self.base.to_string(),
                what: endpoint.path().into(),
                seconds: self.opts.read_timeout.as_secs(),
            }),
        }
    }

    async fn list_once(
        &self,
        endpoint: Endpoint,
        attributes: &[String],
        page_size: Option<usize>,
        filter: Option<&str>,
    ) -> Result<Vec<Value>, Listing> {
        let count = page_size.unwrap_or(DEFAULT_PAGE).max(1);
        let list_url = self.url(endpoint.path()).map_err(Listing::Failed)?;
        let paging = |problem: String| ScimError::Paging {
            url: list_url.to_string(),
            problem,
        };
        let first = self
            .page(endpoint, attributes, filter, 1, count)
            .await
            .map_err(Listing::Failed)?;
        let total = first.total;
        if total > self.opts.max_resources {
            return Err(Listing::Failed(ScimError::TooMany {
                url: list_url.to_string(),
                what: endpoint.path().into(),
                total,
                cap: self.opts.max_resources,
            }));
        }
        let total = total as usize;
        let per_page = first.resources.len();
        if first.start_index.is_none() && per_page < total {
            return Err(Listing::Failed(paging(format!(
                "the service said {total} {}, sent {per_page} on the first page, and no `startIndex` (RFC 7644 §3.4.2.4 requires it when paging)",
                endpoint.path()
            ))));
        }
        let progress = crate::progress::Progress::new(
            format!("reading {list_url}"),
            match endpoint {
                Endpoint::Users => ("user", "users"),
                Endpoint::Groups => ("group", "groups"),
            },
            total,
        );
        progress.add(per_page);
        let progress = &progress;
        let mut pages: BTreeMap<usize, Vec<Value>> = BTreeMap::new();
        pages.insert(1, first.resources);
        if per_page > 0 && per_page < total {
            let starts = (1..).map(|k| 1 + k * per_page).take_while(|s| *s <= total);
            let fetched: Vec<(usize, Vec<Value>)> = stream::iter(starts)
                .map(|start| async move {
                    let p = self
                        .page(endpoint, attributes, filter, start, per_page)
                        .await?;
                    Ok::<_, ScimError>((start, p))
                })
                .buffer_unordered(self.opts.concurrency.max(1))
                .map(|r| {
                    let (start, p) = r.map_err(Listing::Failed)?;
                    if p.total != total as u64 {
                        return Err(Listing::Skewed(paging(format!(
                            "the service said {total} {} on the first page and {} on the page at startIndex={start}",
                            endpoint.path(),
                            p.total
                        ))));
                    }
                    // Stop at once rather than page on through a total that is not there.
                    if p.resources.is_empty() {
                        return Err(Listing::Skewed(paging(format!(
                            "the page at startIndex={start} held no {}, though the service said {total}",
                            endpoint.path()
                        ))));
                    }
                    progress.add(p.resources.len());
                    Ok((start, p.resources))
                })
                .try_collect()
                .await?;
            pages.extend(fetched);
        }
        // Walk the pages in order; fetch what a short page left out.
        // Room for what was read, not for what the service claims.
        let read: usize = pages.values().map(Vec::len).sum();
        let mut out = Vec::with_capacity(read.min(total));
        let mut seen = std::collections::HashSet::with_capacity(read.min(total));
        let mut repeated = 0usize;
        let mut example: Option<String> = None;
        let mut pos = 1;
        while pos <= total {
            let resources = match pages.remove(&pos) {
                Some(r) => r,
                None => {
                    let p = self
                        .page(endpoint, attributes, filter, pos, count)
                        .await
                        .map_err(Listing::Failed)?;
                    if p.total != total as u64 {
                        return Err(Listing::Skewed(paging(format!(
                            "the service said {total} {} on the first page and {} on the page at startIndex={pos}",
                            endpoint.path(),
                            p.total
                        ))));
                    }
                    progress.add(p.resources.len());
                    p.resources
                }
            };
            if resources.is_empty() {
                break;
            }
            pos += resources.len();
            for r in resources {
                match r.get("id").and_then(Value::as_str) {
                    Some(id) if !seen.insert(id.to_owned()) => {
                        repeated += 1;
                        example.get_or_insert_with(|| id.to_owned());
                    }
                    _ => out.push(r),
                }
            }
        }
        if repeated > 0 || out.len() != total {
            let mut problem = format!(
                "the service said {total} {}, its pages held {} distinct ({repeated} repeated)",
                endpoint.path(),
                out.len()
            );
            if let Some(id) = example {
                problem.push_str(&format!(", e.g. id `{id}` more than once"));
            }
            return Err(Listing::Skewed(paging(problem)));
        }
        let problems: Vec<String> = out
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let p = match endpoint {
                    Endpoint::Users => crate::intranet::snapshot::user_problems(r),
                    Endpoint::Groups => crate::intranet::snapshot::group_problems(r),
                };
                (!p.is_empty()).then(|| {
                    format!(
                        "{} {}: {}",
                        endpoint.singular(),
                        crate::intranet::snapshot::resource_name(r, i),
                        p.join(", ")
                    )
                })
            })
            .collect();
        if !problems.is_empty() {
            let count = problems.len();
            let mut shown: Vec<String> = problems.into_iter().take(20).collect();
            if count > shown.len() {
                shown.push(format!("and {} more", count - shown.len()));
            }
            return Err(Listing::Failed(ScimError::InvalidResources {
                url: list_url.to_string(),
                what: endpoint.path().into(),
                count,
                problems: shown,
            }));
        }
        Ok(out)
    }

    /// The service's refusal of `attributes=` (its detail), when a read met one: from then on
    /// this client reads full resources.
    pub fn projection_refused(&self) -> Option<&str> {
        self.projection_refused.get().map(String::as_str)
    }

    /// How many resources an endpoint holds now (`count=0`: `totalResults` only, no resources).
    pub async fn total(&self, endpoint: Endpoint) -> Result<usize, ScimError> {
        let total = self.page(endpoint, &[], None, 1, 0).await?.total;
        if total > self.opts.max_resources {
            return Err(ScimError::TooMany {
                url: self.url(endpoint.path())?.to_string(),
                what: endpoint.path().into(),
                total,
                cap: self.opts.max_resources,
            });
        }
        Ok(total as usize)
    }

    /// One page, checked on its own: a ListResponse with a `totalResults`, a `Resources` list of
    /// at most `count`, and the `startIndex` asked for when it gives one.
    async fn page(
        &self,
        endpoint: Endpoint,
        attributes: &[String],
        filter: Option<&str>,
        start: usize,
        count: usize,
    ) -> Result<Page, ScimError> {
        let url_of = |attributes: &[String]| -> Result<reqwest::Url, ScimError> {
            let mut url = self.url(endpoint.path())?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("startIndex", &start.to_string())
                    .append_pair("count", &count.to_string());
                if !attributes.is_empty() {
                    q.append_pair("attributes", &attributes.join(","));
                }
                if let Some(f) = filter {
                    q.append_pair("filter", f);
                }
            }
            Ok(url)
        };
        let projected = !attributes.is_empty() && self.projection_refused.get().is_none();
        let mut url = url_of(if projected { attributes } else { &[] })?;
        let ans = match self.send(Method::GET, url.clone(), None, None, true).await {
            // A service that cannot project (SCIMMY answers 400 for the enterprise
            // `department`): once more without `attributes=`, and so for the rest of the run
            // when that works.
            Err(ScimError::Http {
                status: 400,
                detail,
                ..
            }) if projected => {
                url = url_of(&[])?;
                let ans = self
                    .send(Method::GET, url.clone(), None, None, true)
                    .await?;
                let _ = self.projection_refused.set(detail);
                ans
            }
            other => other?,
        };
        let bad = |problem: &str| ScimError::BadResponse {
            url: url.to_string(),
            problem: problem.to_string(),
        };
        let body = ans.body.ok_or_else(|| bad("empty body"))?;
        let total = body
            .get("totalResults")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("ListResponse without a whole, non-negative totalResults"))?;
        let start_index = match body.get("startIndex") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| bad("startIndex is not a number"))?,
            ),
        };
        if let Some(echoed) = start_index.filter(|s| *s != start as u64) {
            return Err(ScimError::Paging {
                url: url.to_string(),
                problem: format!(
                    "asked for the page at startIndex={start}, the service answered the page at startIndex={echoed}"
                ),
            });
        }
        let resources = match body.get("Resources") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(bad("Resources is not a list")),
        };
        // `count=0` asks for the total only; a service that sends resources anyway is harmless.
        if count > 0 && resources.len() > count {
            return Err(ScimError::Paging {
                url: url.to_string(),
                problem: format!(
                    "asked for at most {count} {}, the page held {}",
                    endpoint.path(),
                    resources.len()
                ),
            });
        }
        Ok(Page {
            total,
            start_index,
            resources,
        })
    }

    /// All Users (with the attributes the mapped `fields` need) and all Groups, concurrently.
    pub async fn read_resources(
        &self,
        fields: &[String],
        caps: &Capabilities,
    ) -> Result<(Vec<Value>, Vec<Value>), ScimError> {
        let users_attrs = user_attributes(fields);
        let group_attrs = group_attributes();
        tokio::try_join!(
            self.list_all(Endpoint::Users, &users_attrs, caps.max_results),
            self.list_all(Endpoint::Groups, &group_attrs, caps.max_results),
        )
    }

    /// The intranet as the model sees it, through the same conversion as a snapshot file.
    pub async fn read_state(
        &self,
        fields: &[String],
        caps: &Capabilities,
    ) -> Result<IntranetState, ScimError> {
        require_schemas(caps, fields)?;
        let (users, groups) = self.read_resources(fields, caps).await?;
        Ok(state_from_resources(&users, &groups, fields))
    }

    /// The snapshot file form `{ "users": <ListResponse>, "groups": <ListResponse> }`, with full
    /// resources, as `roster snapshot intranet -o FILE` writes it.
    pub async fn snapshot(&self, caps: &Capabilities) -> Result<Value, ScimError> {
        let (users, groups) = tokio::try_join!(
            self.list_all(Endpoint::Users, &[], caps.max_results),
            self.list_all(Endpoint::Groups, &[], caps.max_results),
        )?;
        Ok(to_snapshot(&Resources { users, groups }))
    }
}

struct Page {
    total: u64,
    start_index: Option<u64>,
    resources: Vec<Value>,
}

/// Why a list read failed: `Skewed` when a change on the service during the read could explain
/// it (then the read is tried again once), `Failed` otherwise.
enum Listing {
    Skewed(ScimError),
    Failed(ScimError),
}

impl Listing {
    fn into_error(self) -> ScimError {
        match self {
            Listing::Skewed(e) | Listing::Failed(e) => e,
        }
    }
}

/// The `attributes=` a read needs: identity, state, version, and the mapped fields' attributes.
pub fn user_attributes(fields: &[String]) -> Vec<String> {
    let mut attrs: Vec<String> = ["userName", "externalId", "active", "meta"]
        .map(String::from)
        .to_vec();
    for a in fields
        .iter()
        .filter_map(|f| Field::parse(f))
        .map(|f| f.request_attribute())
    {
        if !attrs.contains(&a) {
            attrs.push(a);
        }
    }
    attrs
}

/// The attributes a Groups read asks for.
pub fn group_attributes() -> Vec<String> {
    ["displayName", "members", "meta"]
        .map(String::from)
        .to_vec()
}

/// The instant of an RFC 3339 timestamp (`2024-05-01T12:00:00.123Z`, `...+02:00`; a `t` or
/// space separator, a lowercase `z`). RFC 3339 allows any number of fraction digits; past nine
/// (nanoseconds) they are dropped.
pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    if let Ok(t) = s.parse() {
        return Some(t);
    }
    let dot = s.find('.')?;
    let digits = s[dot + 1..].bytes().take_while(u8::is_ascii_digit).count();
    if digits <= 9 {
        return None;
    }
    let nine = format!("{}{}", &s[..dot + 10], &s[dot + 1 + digits..]);
    nine.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intranet::fields::ENTERPRISE_USER;

    #[test]
    fn attributes_cover_mapped_fields() {
        let a = user_attributes(&[
            "email".into(),
            "first_name".into(),
            "surname".into(),
            "department".into(),
            "scim:nickName".into(),
        ]);
        assert_eq!(
            a,
            [
                "userName",
                "externalId",
                "active",
                "meta",
                "emails",
                "name",
                &format!("{ENTERPRISE_USER}:department"),
                "nickName"
            ]
        );
    }
}
