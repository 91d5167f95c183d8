//! The vocabulary every layer shares: the rule catalog (ids, severities, texts), the
//! finding every check produces, and what verify knows about names (Linux capabilities,
//! addresses, host paths, image tags). It imports nothing else of the crate.

pub mod caps;
pub mod catalog;
pub mod finding;
pub mod host_paths;
pub mod image_tags;
pub mod net;
