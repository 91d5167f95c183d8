//! A serialized outgoing frame shared by every connection it goes to, charged once to
//! the budget of all connections (`--max-buffered-bytes-total`).
//!
//! An event fanned out to many readers is one reference-counted buffer; the budget
//! counts its bytes once (unique bytes queued), and gets them back when the last queue
//! holding it has written it or dropped it. Each connection's own bound
//! (`--max-buffered-bytes`) still counts the frame in full: that bounds what one reader
//! can pin.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// One serialized frame and its charge to the budget of all connections.
#[derive(Debug, Clone)]
pub struct SharedFrame(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    text: Utf8Bytes,
    /// Released when the last holder drops the frame (`None`: not charged, e.g. a
    /// small terminal event sent while the budget is used up).
    _charge: Option<OwnedSemaphorePermit>,
}

impl SharedFrame {
    pub fn new(text: Utf8Bytes, charge: Option<OwnedSemaphorePermit>) -> SharedFrame {
        SharedFrame(Arc::new(Inner {
            text,
            _charge: charge,
        }))
    }

    /// The text to write (a cheap clone of the shared buffer).
    pub fn text(&self) -> Utf8Bytes {
        self.0.text.clone()
    }

    pub fn len(&self) -> usize {
        self.0.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.text.is_empty()
    }
}
