//! SCIM Bulk (RFC 7644 §3.7): how writes are grouped into Bulk requests (batch size,
//! `maxOperations`, measured `maxPayloadSize`), the request body, and each operation's result
//! read as the same write sent alone would end.

use reqwest::Method;
use serde_json::{json, Value};
use url::Url;

use super::error::error_parts;
use super::write::patch_body;
use super::{Batch, Capabilities, Endpoint, ScimClient, ScimError, Write, Written};

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

impl Write {
    /// The operation of a Bulk request (RFC 7644 §3.7) that does this write. `version` carries
    /// the ETag, and acts as `If-Match` does on a single request (a mismatch answers 412).
    fn bulk_operation(&self, bulk_id: &str) -> Value {
        match self {
            Write::Create { resource } => json!({
                "method": "POST",
                "bulkId": bulk_id,
                "path": format!("/{}", Endpoint::Users.path()),
                "data": resource,
            }),
            Write::Patch(p) => {
                let mut op = json!({
                    "method": "PATCH",
                    "bulkId": bulk_id,
                    "path": format!("/{}", p.endpoint.resource(&p.id)),
                    "data": patch_body(&p.operations),
                });
                if let Some(tag) = &p.if_match {
                    op["version"] = json!(tag);
                }
                op
            }
        }
    }
}

/// The `bulkId` of the write at `index` of the list being sent: unique within any request.
fn bulk_id(index: usize) -> String {
    format!("w{index}")
}

/// A BulkRequest body around serialized operations. No `failOnErrors`: RFC 7644 §3.7.3 has the
/// service then go on past failed operations, as `apply` goes on past a failed change.
fn bulk_body(operations: &[String]) -> String {
    format!(
        "{{\"schemas\":[\"{BULK_REQUEST}\"],\"Operations\":[{}]}}",
        operations.join(",")
    )
}

impl ScimClient {
    /// How to send `writes`: as Bulk requests of at most the configured batch size, the
    /// service's `maxOperations`, and (the serialized body, measured) its `maxPayloadSize`,
    /// when this client uses Bulk and the service announces it; otherwise each on its own.
    /// A Bulk request of one write gains nothing, so a lone write (or one too large for any Bulk
    /// request) goes on its own.
    pub fn batches(&self, caps: &Capabilities, writes: &[Write]) -> Vec<Batch> {
        let Some(batch) = self.opts.bulk.filter(|_| caps.bulk) else {
            return (0..writes.len()).map(Batch::Single).collect();
        };
        let max_ops = caps
            .bulk_max_operations
            .map_or(batch, |m| m.min(batch))
            .max(1);
        let max_bytes = caps.bulk_max_payload.unwrap_or(usize::MAX);
        let envelope = bulk_body(&[]).len();
        let mut out = Vec::new();
        let close = |out: &mut Vec<Batch>, range: std::ops::Range<usize>| match range.len() {
            0 => {}
            1 => out.push(Batch::Single(range.start)),
            _ => out.push(Batch::Bulk(range)),
        };
        let (mut start, mut bytes) = (0, envelope);
        for (i, w) in writes.iter().enumerate() {
            let len = w.bulk_operation(&bulk_id(i)).to_string().len();
            if i > start && (i - start >= max_ops || bytes + 1 + len > max_bytes) {
                close(&mut out, start..i);
                (start, bytes) = (i, envelope);
            }
            bytes += usize::from(i > start) + len;
        }
        close(&mut out, start..writes.len());
        out
    }

    /// `writes` as one Bulk request (RFC 7644 §3.7): one result per write, in order; `first` is
    /// the index of the first in the list being sent (operation `bulkId`s are `w<index>`).
    /// `Err` when the request as a whole failed; then which of its operations ran is unknown,
    /// unless the status says the service refused it before running any ([`refused_whole`]).
    ///
    /// Resending it is as safe as resending its writes one by one: a PATCH operation carries its
    /// ETag as `version`, so one that had already run fails with 412 instead of writing twice
    /// (and without ETags, replace, add-member and remove-member give the same result twice);
    /// a POST is not idempotent, so a request with a create is not resent after a timeout, as a
    /// single POST is not.
    pub async fn bulk(
        &self,
        writes: &[Write],
        first: usize,
    ) -> Result<Vec<Result<Written, ScimError>>, ScimError> {
        let url = self.url("Bulk")?;
        let operations: Vec<String> = writes
            .iter()
            .enumerate()
            .map(|(k, w)| w.bulk_operation(&bulk_id(first + k)).to_string())
            .collect();
        let idempotent = writes.iter().all(|w| matches!(w, Write::Patch(_)));
        let ans = self
            .send(
                Method::POST,
                url.clone(),
                Some(&bulk_body(&operations)),
                None,
                idempotent,
            )
            .await?;
        let bad = |problem: String| ScimError::BadResponse {
            url: url.to_string(),
            problem,
        };
        let body = ans.body.ok_or_else(|| bad("empty body".into()))?;
        let results = body
            .get("Operations")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("BulkResponse without Operations".into()))?;
        let by_id: std::collections::HashMap<&str, &Value> = results
            .iter()
            .filter_map(|r| Some((r.get("bulkId")?.as_str()?, r)))
            .collect();
        Ok(writes
            .iter()
            .enumerate()
            .map(|(k, write)| {
                let id = bulk_id(first + k);
                // By bulkId; a service that does not echo it answers in request order.
                let result = by_id
                    .get(id.as_str())
                    .copied()
                    .or_else(|| results.get(k).filter(|r| r.get("bulkId").is_none()));
                match result {
                    Some(r) => self.bulk_result(write, r),
                    None => Err(bad(format!(
                        "no result for operation {id}: it may or may not have been applied"
                    ))),
                }
            })
            .collect())
    }

    /// One operation's result of a BulkResponse, as the same write sent alone would end.
    fn bulk_result(&self, write: &Write, result: &Value) -> Result<Written, ScimError> {
        let location = result.get("location").and_then(Value::as_str);
        let url = match (location, write) {
            (Some(l), _) => Url::parse(l).or_else(|_| self.url(l.trim_start_matches('/'))),
            (None, Write::Create { .. }) => self.url(Endpoint::Users.path()),
            (None, Write::Patch(p)) => self.url(&p.endpoint.resource(&p.id)),
        }?;
        let status = match result.get("status") {
            Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            _ => None,
        }
        .ok_or_else(|| ScimError::BadResponse {
            url: url.to_string(),
            problem: "Bulk operation result without a status".into(),
        })?;
        if !(200..300).contains(&status) {
            let response = result.get("response").cloned().unwrap_or(Value::Null);
            let parts = error_parts(&response, &response.to_string());
            return Err(self.refusal(&write.method(), &url, status, parts));
        }
        let etag = result
            .get("version")
            .and_then(Value::as_str)
            .map(String::from);
        let id = match write {
            Write::Patch(p) => Some(p.id.clone()),
            Write::Create { .. } => result
                .get("response")
                .and_then(|r| r.get("id"))
                .and_then(Value::as_str)
                .map(String::from)
                .or_else(|| {
                    location?;
                    let last = url.path_segments()?.rfind(|s| !s.is_empty())?;
                    Some(percent_decode(last))
                }),
        };
        if id.is_none() {
            return Err(ScimError::BadResponse {
                url: url.to_string(),
                problem: "created User has no id".into(),
            });
        }
        // A Bulk response carries no resource body in most servers: nothing to compare the
        // fields sent with, so none is reported as not stored.
        Ok(Written {
            id,
            etag,
            not_stored: Vec::new(),
        })
    }
}

/// Whether a failed Bulk request was refused as a whole before any of its operations ran, so
/// that its writes can be sent again on their own: no Bulk endpoint (404, 405), Bulk not
/// implemented after all (501), or a request too large for the service (413: RFC 7644 §3.7.4 has
/// the service refuse the request, not run part of it).
pub fn refused_whole(e: &ScimError) -> bool {
    matches!(e.status(), Some(404 | 405 | 413 | 501))
}

/// `%XX` escapes of a URL path segment decoded (a created resource's id from its location); a
/// `%` not followed by two hex digits stays as it is, bytes that are not UTF-8 become U+FFFD.
fn percent_decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::intranet::scim::{ClientOptions, Patch, Token};

    fn bulk_caps(max_operations: Option<usize>, max_payload: Option<usize>) -> Capabilities {
        Capabilities {
            patch: true,
            bulk: true,
            filter: true,
            etag: true,
            max_results: None,
            enterprise: true,
            bulk_max_operations: max_operations,
            bulk_max_payload: max_payload,
        }
    }

    fn bulk_client(batch: Option<usize>) -> ScimClient {
        let opts = ClientOptions {
            bulk: batch,
            ..ClientOptions::default()
        };
        ScimClient::new(
            "http://127.0.0.1:1/",
            Token::new("t"),
            &BTreeMap::new(),
            false,
            opts,
        )
        .unwrap()
    }

    fn title_patch(i: usize, title: &str) -> Write {
        Write::Patch(Patch {
            endpoint: Endpoint::Users,
            id: format!("id-{i}"),
            operations: vec![json!({"op": "replace", "path": "title", "value": title})],
            if_match: Some(format!("W/\"{i}\"")),
        })
    }

    /// The body `bulk` sends for a batch, built the same way.
    fn body_of(writes: &[Write], range: std::ops::Range<usize>) -> String {
        let ops: Vec<String> = range
            .map(|i| writes[i].bulk_operation(&bulk_id(i)).to_string())
            .collect();
        bulk_body(&ops)
    }

    #[test]
    fn batches_keep_to_the_batch_size_and_max_operations() {
        let writes: Vec<Write> = (0..10).map(|i| title_patch(i, "x")).collect();
        let b = bulk_client(Some(3)).batches(&bulk_caps(None, None), &writes);
        assert_eq!(
            b,
            [
                Batch::Bulk(0..3),
                Batch::Bulk(3..6),
                Batch::Bulk(6..9),
                Batch::Single(9)
            ]
        );
        let b = bulk_client(Some(200)).batches(&bulk_caps(Some(4), None), &writes);
        assert_eq!(
            b,
            [Batch::Bulk(0..4), Batch::Bulk(4..8), Batch::Bulk(8..10)]
        );
        // Off in the client, or not announced: each on its own.
        let singles: Vec<Batch> = (0..10).map(Batch::Single).collect();
        assert_eq!(
            bulk_client(None).batches(&bulk_caps(None, None), &writes),
            singles
        );
        let mut caps = bulk_caps(None, None);
        caps.bulk = false;
        assert_eq!(bulk_client(Some(200)).batches(&caps, &writes), singles);
    }

    #[test]
    fn batches_keep_to_the_measured_payload_size() {
        // Values of different lengths, so that batches hold different numbers of writes.
        let writes: Vec<Write> = (0..40)
            .map(|i| title_patch(i, &"t".repeat(1 + (i * 37) % 300)))
            .collect();
        let limit = 1500;
        let b = bulk_client(Some(1000)).batches(&bulk_caps(None, Some(limit)), &writes);
        let mut next = 0;
        for batch in &b {
            let range = match batch {
                Batch::Single(i) => *i..*i + 1,
                Batch::Bulk(r) => r.clone(),
            };
            assert_eq!(range.start, next, "in order, none left out: {b:?}");
            next = range.end;
            let body = body_of(&writes, range.clone());
            if matches!(batch, Batch::Bulk(_)) {
                assert!(body.len() <= limit, "{} > {limit}", body.len());
                assert!(serde_json::from_str::<Value>(&body).is_ok());
            }
            // Full: one more write would not have fitted.
            if range.end < writes.len() {
                let more = body_of(&writes, range.start..range.end + 1);
                assert!(more.len() > limit, "{batch:?} could hold one more");
            }
        }
        assert_eq!(next, writes.len());
        assert!(b.iter().filter(|x| matches!(x, Batch::Bulk(_))).count() >= 3);
        // A write too large for any Bulk request goes on its own.
        let big = vec![
            title_patch(0, "x"),
            title_patch(1, &"y".repeat(2000)),
            title_patch(2, "z"),
        ];
        let b = bulk_client(Some(1000)).batches(&bulk_caps(None, Some(limit)), &big);
        assert_eq!(b, [Batch::Single(0), Batch::Single(1), Batch::Single(2)]);
    }

    #[test]
    fn bulk_results_read_as_single_answers() {
        let c = bulk_client(Some(200));
        let create = Write::Create {
            resource: json!({"userName": "ada"}),
        };
        let ok = json!({"method": "POST", "bulkId": "w0", "version": "W/\"7\"", "location": "http://127.0.0.1:1/Users/a%20b", "status": "201"});
        assert_eq!(
            c.bulk_result(&create, &ok).unwrap(),
            Written {
                id: Some("a b".into()),
                etag: Some("W/\"7\"".into()),
                not_stored: Vec::new(),
            }
        );
        let stale = json!({"method": "PATCH", "status": "412", "response": {"status": "412", "detail": "version mismatch"}});
        let e = c.bulk_result(&title_patch(1, "x"), &stale).unwrap_err();
        assert!(
            matches!(e, ScimError::Http { status: 412, ref detail, .. } if detail == "version mismatch"),
            "{e:?}"
        );
        let denied = json!({"status": 403});
        assert!(matches!(
            c.bulk_result(&title_patch(1, "x"), &denied).unwrap_err(),
            ScimError::Unauthorized { status: 403, .. }
        ));
        let no_status = json!({"method": "PATCH"});
        assert!(matches!(
            c.bulk_result(&title_patch(1, "x"), &no_status).unwrap_err(),
            ScimError::BadResponse { .. }
        ));
        let no_location = json!({"status": "201"});
        assert!(c.bulk_result(&create, &no_location).is_err());
    }

    #[test]
    fn a_location_segment_is_percent_decoded_and_bad_escapes_stay() {
        assert_eq!(percent_decode("a%2Fb%20c"), "a/b c");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
        assert_eq!(percent_decode("%c3%a9"), "é");
        // A `%` without two hex digits after it is kept as it is.
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%%41"), "%A");
        // Bytes that are not UTF-8 are replaced, not an error.
        assert_eq!(percent_decode("x%FFy"), "x\u{FFFD}y");
        assert_eq!(percent_decode("plain-id"), "plain-id");
    }
}
