//! The hash maps and sets of verify's per-service paths (the services' keys, image
//! builders, the report's shared places): std's, with foldhash's hasher seeded per
//! process. SipHash, std's default, was 6% of the instructions of a 2000-service run
//! (callgrind); a per-process seed keeps a crafted file from choosing colliding keys.

/// A `HashMap` with the fast seeded hasher.
pub type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A `HashSet` with the fast seeded hasher.
pub type Set<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
