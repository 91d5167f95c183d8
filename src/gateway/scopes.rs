//! Operator scopes: what a connection was granted at `connect`, and whether that
//! satisfies the scope a method requires (the real gateway's rules: `operator.admin`
//! implies everything, `operator.write` implies `operator.read`).
//!
//! The per-method map lives in the method table (`methods/table.rs`); see
//! docs/protocol.md for the table.

use serde_json::{json, Value};

use crate::protocol::ErrorShape;

pub const READ: &str = "operator.read";
pub const WRITE: &str = "operator.write";
pub const ADMIN: &str = "operator.admin";
/// Scopes this gateway knows; any other requested scope is dropped from the grant.
pub const KNOWN: &[&str] = &[
    ADMIN,
    READ,
    WRITE,
    "operator.approvals",
    "operator.pairing",
    "operator.talk",
    "operator.talk.secrets",
    "operator.questions",
    "operator.sessions.read",
    "operator.sessions.write",
];

/// A scope a method requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => READ,
            Scope::Write => WRITE,
            Scope::Admin => ADMIN,
        }
    }
}

/// What a connection may do: its role and the scopes it declared (known ones only).
/// The shared gateway token proves the client may connect as an operator; like the
/// real gateway with token auth, the declared scopes are granted as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: String,
    pub scopes: Vec<String>,
}

impl Grant {
    pub fn from_connect(role: Option<&str>, scopes: Option<&[String]>) -> Grant {
        let role = role
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .unwrap_or("operator")
            .to_string();
        let mut granted: Vec<String> = Vec::new();
        if role == "operator" {
            for s in scopes.unwrap_or_default() {
                let s = s.trim();
                if KNOWN.contains(&s) && !granted.iter().any(|g| g == s) {
                    granted.push(s.to_string());
                }
            }
        }
        Grant {
            role,
            scopes: granted,
        }
    }

    fn has(&self, s: &str) -> bool {
        self.scopes.iter().any(|g| g == s)
    }

    pub fn allows(&self, required: Scope) -> bool {
        if self.role != "operator" {
            return false;
        }
        match required {
            Scope::Admin => self.has(ADMIN),
            Scope::Write => self.has(ADMIN) || self.has(WRITE),
            Scope::Read => self.has(ADMIN) || self.has(WRITE) || self.has(READ),
        }
    }

    pub fn can_read(&self) -> bool {
        self.allows(Scope::Read)
    }

    /// `hello-ok.auth`.
    pub fn hello_auth(&self, method: &str) -> Value {
        json!({ "method": method, "role": self.role, "scopes": self.scopes })
    }
}

/// The real gateway's refusal: `FORBIDDEN`, `missing scope: <scope>`, with details.
pub fn missing(required: Scope) -> ErrorShape {
    ErrorShape::new(
        crate::protocol::codes::FORBIDDEN,
        format!("missing scope: {}", required.as_str()),
    )
    .with_details(json!({
        "code": "MISSING_SCOPE",
        "missingScope": required.as_str(),
        "requiredScopes": [required.as_str()],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(scopes: &[&str]) -> Grant {
        let s: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        Grant::from_connect(Some("operator"), Some(&s))
    }

    #[test]
    fn implications_follow_the_real_gateway() {
        assert!(grant(&[READ]).allows(Scope::Read));
        assert!(!grant(&[READ]).allows(Scope::Write));
        assert!(grant(&[WRITE]).allows(Scope::Read));
        assert!(!grant(&[WRITE]).allows(Scope::Admin));
        assert!(grant(&[ADMIN]).allows(Scope::Write));
        assert!(!grant(&[]).allows(Scope::Read));
        assert!(!grant(&["operator.approvals"]).allows(Scope::Read));
        let node = Grant::from_connect(Some("node"), Some(&[ADMIN.to_string()]));
        assert!(!node.allows(Scope::Read) && node.scopes.is_empty());
    }

    #[test]
    fn unknown_scopes_are_dropped() {
        let g = grant(&[READ, "root", READ, "operator.everything"]);
        assert_eq!(g.scopes, [READ]);
    }

    #[test]
    fn missing_scope_has_the_protocol_shape() {
        let e = serde_json::to_value(missing(Scope::Write)).unwrap();
        assert_eq!(e["code"], "FORBIDDEN");
        assert_eq!(e["message"], "missing scope: operator.write");
        assert_eq!(e["details"]["missingScope"], WRITE);
    }
}
