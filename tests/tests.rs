//! The one integration test binary: each module is a suite.

mod support;

mod ad;
mod apply;
mod cli;
mod cli_ldap;
mod csv;
mod delta;
mod diag;
mod entra;
mod escape;
mod explain;
mod export;
mod gitops;
mod hostile;
mod interop;
mod ldap;
mod live_workflow;
mod logging;
mod markdown;
mod policy;
mod properties;
mod reads;
mod reconcile;
mod resolve;
mod scim;
mod scim_bulk;
mod tls;
mod unattended;
mod widearea;
mod workflows;
