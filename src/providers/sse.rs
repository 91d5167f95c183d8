//! A bounded, incremental parser for `text/event-stream` (server-sent events).
//!
//! Bytes are fed as they arrive; complete events come out. A line longer than
//! [`MAX_LINE_BYTES`] or an event whose data exceeds [`MAX_EVENT_BYTES`] is an error, so
//! a hostile upstream cannot grow the parser's memory: at most one line plus one
//! event's data are buffered.

/// Longest line accepted (a provider's text delta is a few hundred bytes).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Largest `data` of one event (all its `data:` lines joined).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// One dispatched event: its `event:` name (empty when none) and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

/// Why the stream cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("event stream line longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong,
    #[error("event larger than {MAX_EVENT_BYTES} bytes")]
    EventTooLarge,
    #[error("event stream is not UTF-8")]
    NotUtf8,
}

#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    /// The previous byte was a `\r` that ended a line (a following `\n` belongs to it).
    after_cr: bool,
    name: String,
    data: String,
    has_data: bool,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Feeds `bytes`; returns the events completed by them, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, SseError> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(ev) = self.line_done(&line)? {
                        out.push(ev);
                    }
                }
                _ => {
                    if self.line.len() >= MAX_LINE_BYTES {
                        return Err(SseError::LineTooLong);
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(out)
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<Event>, SseError> {
        if line.is_empty() {
            if !self.has_data {
                self.name.clear();
                return Ok(None);
            }
            self.has_data = false;
            return Ok(Some(Event {
                name: std::mem::take(&mut self.name),
                data: std::mem::take(&mut self.data),
            }));
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => {
                self.name.clear();
                self.name.push_str(value);
            }
            "data" => {
                let extra = value.len() + usize::from(self.has_data);
                if self.data.len() + extra > MAX_EVENT_BYTES {
                    return Err(SseError::EventTooLarge);
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, data: &str) -> Event {
        Event {
            name: name.into(),
            data: data.into(),
        }
    }

    #[test]
    fn parses_events_split_anywhere() {
        let text = "event: a\ndata: {\"x\":1}\n\n: comment\ndata: one\ndata:two\n\nevent: b\r\ndata: z\r\n\r\n";
        let want = vec![ev("a", "{\"x\":1}"), ev("", "one\ntwo"), ev("b", "z")];
        // Fed whole, byte by byte, and in every two-piece split: same events.
        let mut p = Parser::new();
        assert_eq!(p.feed(text.as_bytes()).unwrap(), want);
        let mut p = Parser::new();
        let mut got = Vec::new();
        for b in text.as_bytes() {
            got.extend(p.feed(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(got, want);
        for cut in 0..text.len() {
            let mut p = Parser::new();
            let mut got = p.feed(&text.as_bytes()[..cut]).unwrap();
            got.extend(p.feed(&text.as_bytes()[cut..]).unwrap());
            assert_eq!(got, want, "cut at {cut}");
        }
    }

    #[test]
    fn lone_cr_ends_lines_and_events_without_data_are_dropped() {
        let mut p = Parser::new();
        assert_eq!(
            p.feed(b"event: ping\r\rdata: x\r\r").unwrap(),
            vec![ev("", "x")]
        );
    }

    #[test]
    fn incomplete_event_is_not_dispatched() {
        let mut p = Parser::new();
        assert!(p.feed(b"data: partial\n").unwrap().is_empty());
    }

    #[test]
    fn bounds_are_enforced() {
        let mut p = Parser::new();
        let long = vec![b'a'; MAX_LINE_BYTES + 1];
        assert_eq!(p.feed(&long), Err(SseError::LineTooLong));

        let mut p = Parser::new();
        let line = format!("data: {}\n", "b".repeat(MAX_LINE_BYTES - 10));
        let mut result = Ok(Vec::new());
        for _ in 0..(MAX_EVENT_BYTES / MAX_LINE_BYTES + 1) {
            result = p.feed(line.as_bytes());
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SseError::EventTooLarge));

        let mut p = Parser::new();
        assert_eq!(p.feed(b"data: \xff\xfe\n"), Err(SseError::NotUtf8));
    }
}
