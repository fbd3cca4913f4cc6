//! Admin surfaces that read the hub's state and own none of it: health and readiness, and the
//! REST API, whose actions go through the hub's and tenants' own methods.

pub mod api;
pub mod health;
pub mod probe;
