//! tracing setup: human or JSON logs on stderr. (Skeleton.)
