//! OpenClaw gateway protocol (v3/v4) frame types. (Skeleton.)
