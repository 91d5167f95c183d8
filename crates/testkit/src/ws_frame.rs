//! Raw client WebSocket frame headers (RFC 6455 §5.2), for tests and load tools that
//! must send what a real client library refuses to: oversized announced lengths,
//! fragments, split headers.

/// Text frame opcode.
pub const TEXT: u8 = 0x1;
/// Ping frame opcode.
pub const PING: u8 = 0x9;

/// How the payload length is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LenForm {
    /// The shortest form: 7 bits, then 16, then 64.
    Shortest,
    /// Always the 64-bit form (127 + eight bytes), whatever the length.
    U64,
}

/// The header of a masked client frame: FIN bit, `opcode`, `len` payload bytes
/// announced in `form`, then the masking key `mask`.
pub fn client_header(fin: bool, opcode: u8, len: u64, form: LenForm, mask: [u8; 4]) -> Vec<u8> {
    let mut h = vec![if fin { 0x80 } else { 0 } | (opcode & 0x0f)];
    match form {
        LenForm::Shortest if len < 126 => h.push(0x80 | len as u8),
        LenForm::Shortest if len <= u64::from(u16::MAX) => {
            h.push(0x80 | 126);
            h.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            h.push(0x80 | 127);
            h.extend_from_slice(&len.to_be_bytes());
        }
    }
    h.extend_from_slice(&mask);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_take_the_shortest_form_unless_asked() {
        let m = [1, 2, 3, 4];
        assert_eq!(
            client_header(true, TEXT, 5, LenForm::Shortest, m),
            [0x81, 0x85, 1, 2, 3, 4]
        );
        assert_eq!(
            client_header(false, PING, 300, LenForm::Shortest, m),
            [0x09, 0x80 | 126, 1, 44, 1, 2, 3, 4]
        );
        let big = client_header(true, TEXT, 70_000, LenForm::Shortest, m);
        assert_eq!(&big[..2], [0x81, 0x80 | 127]);
        assert_eq!(big[2..10], 70_000u64.to_be_bytes());
        let wide = client_header(true, TEXT, 5, LenForm::U64, [0; 4]);
        assert_eq!(wide.len(), 14);
        assert_eq!(wide[1], 0x80 | 127);
        assert_eq!(wide[2..10], 5u64.to_be_bytes());
    }
}
