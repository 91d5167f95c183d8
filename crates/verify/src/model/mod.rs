//! Model: what the rules judge, built from the input. The posture of each workload
//! (`posture`, with its compose and Kubernetes adapters), which services run once
//! (`oneshot`), and secret detection and masking (`secrets`, its scanners in
//! `secret_scan`).

pub mod oneshot;
pub mod posture;
pub(crate) mod secret_scan;
pub mod secrets;
