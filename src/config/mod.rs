//! Configuration: the YAML model (`model`), located YAML nodes (`node`), and loading with
//! diagnostics (`load`).

pub mod load;
pub mod model;
pub mod node;
pub mod secret;

pub use load::{load, Loaded};
pub use model::*;
