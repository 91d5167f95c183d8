//! Refuses inbound WebSocket frames by their header, before their payload is read.
//!
//! [`FrameGate`] wraps the upgraded socket under the WebSocket codec and follows the
//! client's frame headers as the bytes pass. A frame (or a fragmented message) larger
//! than the current limit makes the read fail with [`Oversize`] at its header, so the
//! codec never buffers more than the limit. The limit starts at `--max-preauth-payload`
//! and is raised to `--max-payload` once `connect` succeeds
//! ([`FrameGate::set_limit`]), so an unauthenticated socket costs at most the pre-auth
//! limit plus the codec's read buffer.
//!
//! The gate also holds the connection's read-ahead buffer, so that the codec's own can
//! stay small ([`crate::gateway::limits::WS_READ_BUFFER_BYTES`]): it is allocated only
//! when a read filled the codec's buffer (a burst), and freed as soon as it is drained.
//! An idle connection (a read that is pending) never holds it.
//!
//! As the bytes pass, the gate also keeps what the connection needs to replace an idle
//! codec whose buffers a burst grew (`ws::shrink`): the largest frame read or written
//! since the codec was built ([`FrameGate::high_water`], summed over the process in
//! [`codec_buffer_bytes`]) and the count of whole messages passed up
//! ([`FrameGate::at_message_boundary`]); and the bytes written so far, which the
//! connection's writer watches for progress ([`FrameGate::written`]). The connection's
//! one task owns the socket, so all of it is plain fields.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::gateway::limits::READ_AHEAD_BYTES;

/// The error behind a read refused by the gate (inside an `io::Error` of kind
/// `InvalidData`).
#[derive(Debug, thiserror::Error)]
#[error("frame or message larger than {limit} bytes announced by its header")]
pub struct Oversize {
    pub limit: usize,
}

impl Oversize {
    /// True when `err` (anywhere in its source chain) is a gate refusal.
    pub fn is(err: &(dyn std::error::Error + 'static)) -> bool {
        let mut cur = Some(err);
        while let Some(e) = cur {
            if e.downcast_ref::<Oversize>().is_some() {
                return true;
            }
            if let Some(io) = e.downcast_ref::<io::Error>() {
                if io.get_ref().is_some_and(|inner| inner.is::<Oversize>()) {
                    return true;
                }
            }
            cur = e.source();
        }
        false
    }
}

/// Parser state over the inbound byte stream.
#[derive(Debug, Default)]
struct Scanner {
    /// Header bytes seen so far (a client frame header is at most 14 bytes).
    header: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame still to pass.
    payload_left: u64,
    /// Bytes of the current fragmented data message so far.
    message: u64,
    /// Inside a fragmented data message (its final frame not seen yet).
    fragmented: bool,
    /// The frame being passed ends a message (a control frame or a final data frame).
    ends_message: bool,
    /// Messages whose last byte has passed (see [`FrameGate::at_message_boundary`]).
    messages: u64,
    /// The largest frame announced since [`FrameGate::reset_high_water`].
    largest: u64,
}

/// What the scanner found in a chunk of bytes.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// Everything may pass.
    Pass,
    /// A header announcing too much starts at this offset of the chunk (or before it,
    /// then 0): pass only the bytes before it.
    Refuse(usize),
}

impl Scanner {
    /// Bytes this header needs, known from what was seen so far.
    fn header_len(&self) -> usize {
        if self.have < 2 {
            return 2;
        }
        let masked = self.header[1] & 0x80 != 0;
        let ext = match self.header[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + ext + if masked { 4 } else { 0 }
    }

    fn payload_len(&self) -> u64 {
        match self.header[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.header[2..10]);
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        }
    }

    /// Follows `chunk`; refuses at the first header announcing more than `limit`.
    fn scan(&mut self, chunk: &[u8], limit: usize) -> Scan {
        let limit = limit as u64;
        let mut i = 0;
        // Offset in this chunk where the header being parsed began (0 if earlier).
        let mut header_start = 0;
        while i < chunk.len() {
            if self.payload_left > 0 {
                let take = self.payload_left.min((chunk.len() - i) as u64);
                self.payload_left -= take;
                i += take as usize;
                if self.payload_left == 0 && self.ends_message {
                    self.messages += 1;
                }
                continue;
            }
            if self.have == 0 {
                header_start = i;
            }
            self.header[self.have] = chunk[i];
            self.have += 1;
            i += 1;
            if self.have < self.header_len() {
                continue;
            }
            let len = self.payload_len();
            let fin = self.header[0] & 0x80 != 0;
            let opcode = self.header[0] & 0x0f;
            self.have = 0;
            let message = match opcode {
                // Continuation of a fragmented data message.
                0x0 => self.message.saturating_add(len),
                // Text or binary: a new message.
                0x1 | 0x2 => len,
                // Control frames (at most 125 bytes, checked by the codec) and reserved
                // opcodes (refused by the codec) do not belong to a data message.
                _ => 0,
            };
            if len > limit || message > limit {
                return Scan::Refuse(header_start);
            }
            if opcode <= 0x2 {
                self.message = if fin { 0 } else { message };
                self.fragmented = !fin;
            }
            self.ends_message = opcode >= 0x8 || fin;
            self.largest = self.largest.max(len);
            self.payload_left = len;
            if len == 0 && self.ends_message {
                self.messages += 1;
            }
        }
        Scan::Pass
    }

    /// True between messages: no header, payload or fragmented message under way.
    fn between_messages(&self) -> bool {
        self.have == 0 && self.payload_left == 0 && !self.fragmented
    }
}

/// Bytes read ahead of the codec; never empty while it exists.
#[derive(Debug)]
struct ReadAhead {
    bytes: Box<[u8]>,
    start: usize,
    end: usize,
}

/// A socket whose inbound WebSocket frames are checked against a limit.
#[derive(Debug)]
pub struct FrameGate<S> {
    inner: S,
    /// The largest inbound frame or message accepted now.
    limit: usize,
    scanner: Scanner,
    /// Set once a frame was refused: every later read fails.
    refused: Option<usize>,
    /// Unread bytes of the last read-ahead (None when drained: nothing held).
    ahead: Option<ReadAhead>,
    /// The last read filled the caller's buffer: more is likely waiting, read ahead.
    burst: bool,
    read_ahead: usize,
    /// Bytes written to the socket so far (the connection's writer watches it for
    /// progress).
    written: u64,
    /// The largest single write since the last reset (the codec writes its whole
    /// output buffer at once, so this is how large that buffer grew).
    largest_write: usize,
    /// The largest frame read or written since the last reset, as counted in
    /// [`codec_buffer_bytes`].
    high: usize,
}

impl<S> FrameGate<S> {
    pub fn new(inner: S, limit: usize) -> Self {
        Self::with_read_ahead(inner, limit, READ_AHEAD_BYTES)
    }

    /// A gate reading ahead at most `read_ahead` bytes during a burst.
    pub fn with_read_ahead(inner: S, limit: usize, read_ahead: usize) -> Self {
        FrameGate {
            inner,
            limit,
            scanner: Scanner::default(),
            refused: None,
            ahead: None,
            burst: false,
            read_ahead: read_ahead.max(1),
            written: 0,
            largest_write: 0,
            high: 0,
        }
    }

    /// Raises (or lowers) the largest inbound frame or message accepted from now on.
    pub fn set_limit(&mut self, bytes: usize) {
        self.limit = bytes;
    }

    /// Bytes written through this socket so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Bytes held ahead of the codec now (0 on an idle connection).
    pub fn buffered(&self) -> usize {
        self.ahead.as_ref().map_or(0, |a| a.bytes.len())
    }

    /// True when every message whose bytes passed up to the codec is one of the
    /// `delivered` messages it returned, and no frame is under way: then the codec
    /// holds no unread input, and may be replaced by a fresh one without losing any.
    pub fn at_message_boundary(&self, delivered: u64) -> bool {
        self.refused.is_none()
            && self.scanner.between_messages()
            && self.scanner.messages == delivered
    }

    /// The largest frame read or written through this gate since its codec was last
    /// replaced: the WebSocket codec's read and write buffers grow to the largest
    /// frame they carried and never shrink, so this is what that codec holds at least
    /// (beyond its initial size). The connection replaces an idle codec that grew
    /// (`ws::shrink`).
    pub fn high_water(&self) -> usize {
        self.high
    }

    /// Starts the high-water mark again from zero (the codec above was just replaced
    /// by a fresh one, whose buffers are small).
    pub fn reset_high_water(&mut self) {
        self.scanner.largest = 0;
        self.largest_write = 0;
        self.note_high_water();
    }

    /// Publishes the largest frame read or written since the last reset, and keeps the
    /// process-wide sum ([`codec_buffer_bytes`]) up to date.
    fn note_high_water(&mut self) {
        let now = usize::try_from(self.scanner.largest)
            .unwrap_or(usize::MAX)
            .max(self.largest_write);
        let before = self.high;
        if now != before {
            self.high = now;
            if now > before {
                CODEC_BUFFER_BYTES.fetch_add(now - before, Ordering::Relaxed);
            } else {
                CODEC_BUFFER_BYTES.fetch_sub(before - now, Ordering::Relaxed);
            }
        }
    }
}

impl<S> Drop for FrameGate<S> {
    fn drop(&mut self) {
        CODEC_BUFFER_BYTES.fetch_sub(self.high, Ordering::Relaxed);
    }
}

/// Sum of [`FrameGate::high_water`] over every open gate of this process (one gateway per
/// process): what the codecs' buffers grew to and still hold
/// (`clawdbot_codec_buffer_bytes`).
static CODEC_BUFFER_BYTES: AtomicUsize = AtomicUsize::new(0);

/// See [`CODEC_BUFFER_BYTES`].
pub fn codec_buffer_bytes() -> usize {
    CODEC_BUFFER_BYTES.load(Ordering::Relaxed)
}

fn oversize(limit: usize) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Oversize { limit })
}

impl<S: AsyncRead + Unpin> AsyncRead for FrameGate<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(limit) = self.refused {
            return Poll::Ready(Err(oversize(limit)));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        match this.fill(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let limit = this.limit;
        let scanned = this.scanner.scan(&buf.filled()[before..], limit);
        if this.scanner.largest > this.high as u64 {
            this.note_high_water();
        }
        match scanned {
            Scan::Pass => Poll::Ready(Ok(())),
            Scan::Refuse(at) => {
                this.refused = Some(limit);
                if at == 0 {
                    return Poll::Ready(Err(oversize(limit)));
                }
                // Pass the complete frames before the refused header; the next read fails.
                buf.set_filled(before + at);
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl<S: AsyncRead + Unpin> FrameGate<S> {
    /// Fills `buf` from the read-ahead, or from the socket: straight into `buf` unless
    /// the last read showed a burst, then through a read-ahead allocated for it.
    fn fill(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.ahead.is_none() && self.burst && buf.remaining() < self.read_ahead {
            let mut bytes = vec![0u8; self.read_ahead].into_boxed_slice();
            let mut rb = ReadBuf::new(&mut bytes);
            match Pin::new(&mut self.inner).poll_read(cx, &mut rb) {
                // Nothing waiting after all: the buffer is dropped here, unused.
                Poll::Pending => {
                    self.burst = false;
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
            let end = rb.filled().len();
            self.burst = end == self.read_ahead;
            if end > 0 {
                self.ahead = Some(ReadAhead {
                    bytes,
                    start: 0,
                    end,
                });
            }
            // end == 0 is end of stream: fall through with nothing copied.
            if end == 0 {
                return Poll::Ready(Ok(()));
            }
        }
        if let Some(ahead) = &mut self.ahead {
            let n = buf.remaining().min(ahead.end - ahead.start);
            buf.put_slice(&ahead.bytes[ahead.start..ahead.start + n]);
            ahead.start += n;
            if ahead.start == ahead.end {
                // Drained: freed now, so that a burst does not stay on the connection.
                self.ahead = None;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let room = buf.remaining();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.burst = room > 0 && buf.filled().len() - before == room;
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FrameGate<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.len() > self.largest_write {
            self.largest_write = data.len();
            self.note_high_water();
        }
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = polled {
            self.written += n as u64;
        }
        polled
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if len > self.largest_write {
            self.largest_write = len;
            self.note_high_water();
        }
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            self.written += n as u64;
        }
        polled
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawdbot_testkit::ws_frame;

    /// A masked client frame header for `len` payload bytes.
    fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        ws_frame::client_header(fin, opcode, len, ws_frame::LenForm::Shortest, [1, 2, 3, 4])
    }

    fn frame(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
        let mut f = header(fin, opcode, len as u64);
        f.extend(std::iter::repeat_n(b'x', len));
        f
    }

    #[test]
    fn frames_within_the_limit_pass_in_any_chunking() {
        let mut bytes = frame(true, 1, 100);
        bytes.extend(frame(true, 1, 1000));
        bytes.extend(frame(true, 9, 4));
        bytes.extend(frame(true, 1, 70_000));
        for chunk in [1, 3, 7, 1000, bytes.len()] {
            let mut s = Scanner::default();
            for c in bytes.chunks(chunk) {
                assert_eq!(s.scan(c, 70_000), Scan::Pass, "chunk {chunk}");
            }
        }
    }

    #[test]
    fn an_oversized_header_is_refused_before_its_payload() {
        let mut bytes = frame(true, 1, 10);
        let at = bytes.len();
        bytes.extend(header(true, 1, 1 << 20));
        let mut s = Scanner::default();
        assert_eq!(s.scan(&bytes, 64 * 1024), Scan::Refuse(at));
        // Split inside the header: the refusal comes with the byte completing it.
        let mut s = Scanner::default();
        assert_eq!(s.scan(&bytes[..at + 1], 64 * 1024), Scan::Pass);
        assert_eq!(s.scan(&bytes[at + 1..], 64 * 1024), Scan::Refuse(0));
        // A 64-bit length far beyond memory is refused the same way.
        let mut s = Scanner::default();
        assert_eq!(s.scan(&header(true, 2, u64::MAX), 1024), Scan::Refuse(0));
    }

    #[test]
    fn fragmented_messages_count_as_a_whole() {
        let mut s = Scanner::default();
        assert_eq!(s.scan(&frame(false, 1, 600), 1000), Scan::Pass);
        // A control frame between fragments does not reset the message.
        assert_eq!(s.scan(&frame(true, 9, 2), 1000), Scan::Pass);
        assert_eq!(s.scan(&frame(false, 0, 300), 1000), Scan::Pass);
        assert_eq!(s.scan(&header(true, 0, 200), 1000), Scan::Refuse(0));
        // After a final fragment the count starts again.
        let mut s = Scanner::default();
        assert_eq!(s.scan(&frame(false, 1, 600), 1000), Scan::Pass);
        assert_eq!(s.scan(&frame(true, 0, 300), 1000), Scan::Pass);
        assert_eq!(s.scan(&frame(true, 1, 900), 1000), Scan::Pass);
    }

    #[tokio::test]
    async fn reads_fail_at_the_refused_header_and_after() {
        use tokio::io::AsyncReadExt;
        let mut bytes = frame(true, 1, 10);
        let ok_len = bytes.len();
        bytes.extend(header(true, 1, 5000));
        bytes.extend(std::iter::repeat_n(b'y', 5000));
        let mut gate = FrameGate::new(&bytes[..], 1024);
        let mut out = vec![0u8; 8192];
        let n = gate.read(&mut out).await.unwrap();
        assert_eq!(n, ok_len);
        let err = gate.read(&mut out).await.unwrap_err();
        assert!(Oversize::is(&err));
        assert!(gate.read(&mut out).await.is_err());
    }

    #[tokio::test]
    async fn raising_the_limit_lets_larger_frames_through() {
        use tokio::io::AsyncReadExt;
        let bytes = frame(true, 1, 5000);
        let mut gate = FrameGate::new(&bytes[..], 1024);
        gate.set_limit(8192);
        let mut out = Vec::new();
        gate.read_to_end(&mut out).await.unwrap();
        assert_eq!(out.len(), bytes.len());
    }

    #[tokio::test]
    async fn a_burst_is_read_ahead_and_freed_once_drained() {
        use tokio::io::AsyncReadExt;
        let mut bytes = Vec::new();
        for _ in 0..40 {
            bytes.extend(frame(true, 2, 1000));
        }
        let mut gate = FrameGate::with_read_ahead(&bytes[..], 4096, 4096);
        let mut out = Vec::new();
        let mut chunk = [0u8; 512];
        let mut held = 0;
        loop {
            let n = gate.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            held = held.max(gate.buffered());
            out.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(out, bytes);
        assert_eq!(held, 4096, "the burst went through the read-ahead");
        assert_eq!(gate.buffered(), 0, "nothing held once drained");
    }
}
