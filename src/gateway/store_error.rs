//! A sessions-store error as the protocol's error: a full store is `UNAVAILABLE` (retry
//! later), anything else (bad key, unknown session, message too long) `INVALID_REQUEST`.
//! Used by the run engine and the request handlers alike.

use super::limits::RETRY_LATER_MS;
use crate::protocol::{codes, ErrorShape};
use crate::sessions::SessionError;

pub fn session_error(e: SessionError) -> ErrorShape {
    match e {
        SessionError::Full(_) => {
            ErrorShape::new(codes::UNAVAILABLE, e.to_string()).retry_after(RETRY_LATER_MS)
        }
        _ => ErrorShape::invalid(e.to_string()),
    }
}
