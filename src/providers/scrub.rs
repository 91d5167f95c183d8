//! Masking of a provider's key in what its upstream sends back: in one string
//! ([`scrub`]: before any cut, so a cut can never leave part of the key), and in a
//! stream of text deltas ([`StreamScrubber`]: a key split across deltas is masked too,
//! because the tail that could begin a key is held back until the next delta says).

use crate::config::Secret;

/// Replaces every occurrence of the key in `text` by its masked form.
pub(crate) fn scrub(text: &str, key: &Secret) -> String {
    let raw = key.expose();
    if raw.is_empty() || !text.contains(raw) {
        return text.to_string();
    }
    text.replace(raw, &key.masked())
}

/// `text` with the key masked, then cut to `max` characters (masking first: a cut key
/// would no longer be found).
pub(crate) fn scrub_cut(text: &str, key: &Secret, max: usize) -> String {
    super::truncate(&scrub(text, key), max)
}

/// Masks the key in a stream of deltas. Each [`StreamScrubber::push`] returns the text
/// that is safe to pass on: everything but a tail that is a proper prefix of the key
/// (at most the key's length less one byte), which waits for the next delta or for
/// [`StreamScrubber::finish`]. The concatenation of the outputs is the masked
/// concatenation of the inputs, whatever the split. Work per delta is linear in the
/// delta plus the key's length.
#[derive(Debug)]
pub(crate) struct StreamScrubber {
    key: Secret,
    pending: String,
}

impl StreamScrubber {
    pub fn new(key: &Secret) -> StreamScrubber {
        StreamScrubber {
            key: key.clone(),
            pending: String::new(),
        }
    }

    /// Bytes held back so far.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.pending.len()
    }

    /// Adds a delta; returns what can be passed on now (possibly empty).
    pub fn push(&mut self, delta: &str) -> String {
        let raw = self.key.expose();
        if raw.is_empty() {
            return delta.to_string();
        }
        self.pending.push_str(delta);
        if self.pending.contains(raw) {
            self.pending = self.pending.replace(raw, &self.key.masked());
        }
        let keep = partial_key_suffix(&self.pending, raw);
        let cut = self.pending.len() - keep;
        let rest = self.pending.split_off(cut);
        std::mem::replace(&mut self.pending, rest)
    }

    /// The held-back tail (it is not a whole key: it is passed on as is).
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `key` and starts
/// on a character boundary (0 when none).
fn partial_key_suffix(text: &str, key: &str) -> usize {
    let (t, k) = (text.as_bytes(), key.as_bytes());
    let longest = (k.len() - 1).min(t.len());
    let Some(&first) = k.first() else { return 0 };
    for start in t.len() - longest..t.len() {
        if t[start] == first && text.is_char_boundary(start) && k.starts_with(&t[start..]) {
            return t.len() - start;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-ant-api03-SECRETSECRETSECRET-wxyz";

    #[test]
    fn scrub_masks_before_cutting() {
        let key = Secret::new(KEY);
        let text = format!("{}{KEY}", "x".repeat(20));
        let out = scrub_cut(&text, &key, 30);
        assert!(!out.contains("SECRET"), "{out}");
        assert!(out.contains("sk-ant-…"), "{out}");
    }

    #[test]
    fn a_key_split_anywhere_is_masked() {
        let key = Secret::new(KEY);
        let text = format!("a {KEY} b é{KEY}{KEY} sk-ant- c sk");
        // Every split into two parts, and one character per delta.
        let mut splits: Vec<Vec<String>> = (0..text.len())
            .filter(|&i| text.is_char_boundary(i))
            .map(|i| vec![text[..i].to_string(), text[i..].to_string()])
            .collect();
        splits.push(text.chars().map(String::from).collect());
        for parts in splits {
            let mut s = StreamScrubber::new(&key);
            let mut out = String::new();
            for p in &parts {
                let got = s.push(p);
                assert!(!got.contains("SECRET"), "{parts:?}: {got}");
                out.push_str(&got);
                assert!(s.held() < KEY.len());
            }
            out.push_str(&s.finish());
            assert_eq!(out, scrub(&text, &key), "{parts:?}");
        }
    }
}
