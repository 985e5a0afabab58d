//! Configuration: the YAML model (`model`) and its loading with diagnostics (`load`).

pub mod model;

pub use model::*;
