//! The typed values of the deployment settings: sizes, durations, CPU counts and the
//! restart policy. Each is parsed once, when the settings are read, and keeps the text
//! the user wrote (templates and `--print-settings` show it unchanged); the numbers come
//! from the parsed value, so no reader parses again or falls back to a guess.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Implements `Display`, `Serialize` (the text as written) and `Deserialize` (through
/// `FromStr`, whose error is the reason shown to the user) for a parsed setting.
macro_rules! text_value {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.text)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.text)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A docker-style size: `512M`, `2G`, `16m`, `1024k`, `100b`, or plain bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteSize {
    text: String,
    bytes: u64,
}

text_value!(ByteSize);

impl ByteSize {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whole mebibytes, at least 1 (a Kubernetes `Mi` quantity).
    pub fn mebibytes(&self) -> u64 {
        (self.bytes >> 20).max(1)
    }
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        parse_bytes(text)
            .map(|bytes| ByteSize {
                text: text.to_owned(),
                bytes,
            })
            .ok_or_else(|| format!("{text:?} is not a size such as \"16m\", \"512M\" or \"2G\""))
    }
}

fn parse_bytes(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let digits = lower.strip_suffix('b').unwrap_or(&lower);
    let (num, mult) = match digits.chars().last()? {
        'k' => (&digits[..digits.len() - 1], 1u64 << 10),
        'm' => (&digits[..digits.len() - 1], 1 << 20),
        'g' => (&digits[..digits.len() - 1], 1 << 30),
        c if c.is_ascii_digit() => (digits, 1),
        _ => return None,
    };
    let n: f64 = num.parse().ok()?;
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    let bytes = n * mult as f64;
    (bytes >= 1.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// A compose-style duration: `500ms`, `5s`, `1m30s`, `1h`.
#[derive(Debug, Clone, PartialEq)]
pub struct Duration {
    text: String,
    secs: f64,
}

text_value!(Duration);

impl Duration {
    /// Whole seconds rounded up, at least 1 (Kubernetes probe and grace fields).
    pub fn whole_seconds(&self) -> u64 {
        (self.secs.ceil() as u64).max(1)
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        parse_duration_secs(text)
            .map(|secs| Duration {
                text: text.to_owned(),
                secs,
            })
            .ok_or_else(|| {
                format!("{text:?} is not a duration such as \"5s\", \"500ms\" or \"1m\"")
            })
    }
}

/// Seconds of `<number><unit>` parts (`h`, `m`, `s`, `ms`, `us`, `ns`), written one after
/// the other with nothing else.
fn parse_duration_secs(s: &str) -> Option<f64> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
            return None;
        }
        let n: f64 = num.parse().ok()?;
        let (unit, scale) = ["ms", "us", "ns", "h", "m", "s"]
            .iter()
            .zip([1e-3, 1e-6, 1e-9, 3600.0, 60.0, 1.0])
            .find(|(u, _)| tail.starts_with(**u))?;
        total += n * scale;
        rest = &tail[unit.len()..];
    }
    total.is_finite().then_some(total)
}

/// A positive, finite number of CPUs: `"2.0"`, `"0.5"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cpus {
    text: String,
    value: f64,
}

text_value!(Cpus);

impl Cpus {
    /// A quarter of the limit in millicores, at least 10 (the Kubernetes request).
    pub fn request_millis(&self) -> u64 {
        ((self.value * 1000.0) / 4.0).round().max(10.0) as u64
    }
}

impl FromStr for Cpus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.parse::<f64>() {
            Ok(value) if value > 0.0 && value.is_finite() => Ok(Cpus {
                text: text.to_owned(),
                value,
            }),
            _ => Err(format!(
                "{text:?} is not a positive number such as \"0.5\" or \"2.0\""
            )),
        }
    }
}

/// The restart policy of the compose service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    No,
    Always,
    OnFailure,
    UnlessStopped,
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Restart::No => "no",
            Restart::Always => "always",
            Restart::OnFailure => "on-failure",
            Restart::UnlessStopped => "unless-stopped",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> Option<u64> {
        s.parse::<ByteSize>().ok().map(|b| b.bytes())
    }

    fn secs(s: &str) -> Option<f64> {
        s.parse::<Duration>().ok().map(|d| d.secs)
    }

    #[test]
    fn sizes_parse_and_keep_their_text() {
        assert_eq!(bytes("2G"), Some(2 << 30));
        assert_eq!(bytes("16m"), Some(16 << 20));
        assert_eq!(bytes("512MB"), Some(512 << 20));
        assert_eq!(bytes("1024k"), Some(1 << 20));
        assert_eq!(bytes("100b"), Some(100));
        assert_eq!(bytes("4096"), Some(4096));
        for bad in ["lots", "", "-1m", "0", "nanm", "1e400g", "m", "0.1b"] {
            assert_eq!(bytes(bad), None, "{bad}");
        }
        let s: ByteSize = "16m".parse().unwrap();
        assert_eq!((s.to_string(), s.mebibytes()), ("16m".to_string(), 16));
        assert_eq!("2G".parse::<ByteSize>().unwrap().mebibytes(), 2048);
        assert_eq!("1k".parse::<ByteSize>().unwrap().mebibytes(), 1);
        let err = "lots".parse::<ByteSize>().unwrap_err();
        assert!(err.starts_with("\"lots\" is not a size"), "{err}");
    }

    #[test]
    fn durations_parse_and_round_up_to_whole_seconds() {
        assert_eq!(secs("1m30s"), Some(90.0));
        assert_eq!(secs("500ms"), Some(0.5));
        assert_eq!(secs("1h"), Some(3600.0));
        assert_eq!(secs("1.5s"), Some(1.5));
        for bad in ["soon", "", "5", "s", "5x", "1m 30s", ".5s", "5.s", "5sm"] {
            assert_eq!(secs(bad), None, "{bad}");
        }
        assert_eq!("500ms".parse::<Duration>().unwrap().whole_seconds(), 1);
        assert_eq!("1m30s".parse::<Duration>().unwrap().whole_seconds(), 90);
        assert_eq!("1.2s".parse::<Duration>().unwrap().whole_seconds(), 2);
    }

    #[test]
    fn cpus_must_be_positive_and_finite() {
        assert_eq!("2.0".parse::<Cpus>().unwrap().request_millis(), 500);
        assert_eq!("0.01".parse::<Cpus>().unwrap().request_millis(), 10);
        for bad in ["0", "-1", "inf", "NaN", "two", ""] {
            assert!(bad.parse::<Cpus>().is_err(), "{bad}");
        }
    }

    #[test]
    fn values_serialize_as_written_and_restart_as_kebab_case() {
        #[derive(Debug, Serialize, Deserialize)]
        struct T {
            size: ByteSize,
            period: Duration,
            cpus: Cpus,
            restart: Restart,
        }
        let text =
            "size = \"512MB\"\nperiod = \"1m30s\"\ncpus = \"0.50\"\nrestart = \"on-failure\"\n";
        let t: T = toml::from_str(text).unwrap();
        assert_eq!(t.restart, Restart::OnFailure);
        assert_eq!(t.restart.to_string(), "on-failure");
        assert_eq!(toml::to_string(&t).unwrap(), text);
        let err = toml::from_str::<T>(
            "size = \"lots\"\nperiod = \"1s\"\ncpus = \"1\"\nrestart = \"no\"\n",
        )
        .unwrap_err();
        assert!(err.message().contains("\"lots\" is not a size"), "{err}");
    }
}
