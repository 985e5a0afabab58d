//! The one integration test binary: each module is a suite.

mod support;

mod cli;
mod cli_ldap;
mod delta;
mod export;
mod gitops;
mod hostile;
mod ldap;
mod live_workflow;
mod policy;
mod properties;
mod reads;
mod reconcile;
mod scim;
mod scim_bulk;
mod workflows;
