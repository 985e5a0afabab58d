//! The one integration test binary: each module is a suite.

mod support;

mod ldap;
mod scim;
