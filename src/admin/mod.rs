//! Admin surfaces that read the hub's state and own none of it: health and readiness.

pub mod health;
pub mod probe;
