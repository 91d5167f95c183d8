//! The Prometheus text exposition format 0.0.4, as the gateway's and the egress
//! proxy's `/metrics` serve it: its content type and a writer of `# HELP`/`# TYPE`
//! headers and samples.

use std::fmt::Write as _;

/// Content type of the exposition format served at `/metrics`.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Appends metric families to a string.
pub struct Writer<'a>(pub &'a mut String);

impl Writer<'_> {
    pub fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }
    /// One sample. Label values must need no escaping: callers pass constants, never
    /// client input or configuration.
    pub fn line(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{v}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
    pub fn raw(&mut self, text: &str) {
        self.0.push_str(text);
    }
}
