//! The live intranet over SCIM 2.0 (RFC 7643/7644): discovery, paged concurrent reads, and the
//! writes `apply` makes (POST and PATCH only: this module has no way to delete anything).
//!
//! The bearer token lives in [`Token`], whose `Debug` is redacted and which is only ever turned
//! into a sensitive `Authorization` header. Errors carry URLs, statuses and the server's SCIM
//! error detail, never a header.
//!
//! One [`ScimClient`], its methods spread by concern:
//! - `client`: the token and headers, the URL check, one request with retries, backoff and
//!   `Retry-After`, the response body cap, no redirects;
//! - `discovery`: [`Capabilities`] from `/ServiceProviderConfig`, [`require_schemas`], [`connect`];
//! - `list`: paged reads with every page checked, totals, the bounds on a read;
//! - `write`: a [`Write`] sent as its own request (POST, PATCH);
//! - `bulk`: writes grouped into Bulk requests and their results;
//! - `limit`: how many requests are in flight, learned from their latency (adaptive) or fixed;
//! - `error`: [`ScimError`] and the reading of a SCIM Error object;
//! - `cache`: the delta read, Users through a verified cache of the last read;
//! - `target`: the service as an [`crate::intranet::IntranetTarget`]: read through the cache,
//!   written with single or Bulk requests.

mod bulk;
pub mod cache;
pub(crate) mod client;
mod discovery;
mod error;
mod limit;
mod list;
pub mod target;
mod write;

pub use crate::intranet::{Batch, Written};
pub use bulk::refused_whole;
pub use client::{
    check_url, local_address_for, resolve_secret, ClientOptions, Endpoint, ScimClient, Token,
};
pub use discovery::{connect, mapped_fields, require_schemas, Capabilities, Live};
pub use error::ScimError;
pub use list::{group_attributes, parse_time, user_attributes};
pub use write::{Patch, Write};
