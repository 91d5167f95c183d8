//! Gateway token: loaded once at startup (`CLAWDBOT_GATEWAY_TOKEN`,
//! `OPENCLAW_GATEWAY_TOKEN`, or their `_FILE` variants), checked in constant time on
//! every `connect`.

use std::net::IpAddr;

use anyhow::Context;
use subtle::ConstantTimeEq;

use crate::config::{read_secret, Secret};
use crate::defaults::{MIN_TOKEN_LEN, TOKEN_VARS};

/// How connections authenticate.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Every `connect` must present this token.
    Token(Secret),
    /// `--insecure-no-auth` on a loopback bind: no token is checked.
    Disabled,
}

/// The result of checking a presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    Ok,
    Missing,
    Mismatch,
}

/// Message sent when the client presented no token (the openclaw CLI prints it).
pub const MISSING_MESSAGE: &str = "unauthorized: gateway token missing (this gateway requires a token: pass --token, or set OPENCLAW_GATEWAY_TOKEN or gateway.remote.token to the server's CLAWDBOT_GATEWAY_TOKEN)";
/// Message sent when the presented token is wrong.
pub const MISMATCH_MESSAGE: &str = "unauthorized: gateway token mismatch (set gateway.remote.token or OPENCLAW_GATEWAY_TOKEN to match the server's CLAWDBOT_GATEWAY_TOKEN)";
/// Message sent when the peer used up its failed attempts.
pub const RATE_LIMITED_MESSAGE: &str =
    "unauthorized: too many failed authentication attempts (wait and retry with the right token)";

impl AuthMode {
    /// Decides the auth mode at startup. Refuses a short token, and a missing token
    /// unless `insecure_no_auth` is set and `bind` is a loopback address.
    pub fn from_startup(
        token: Option<Secret>,
        insecure_no_auth: bool,
        bind: IpAddr,
    ) -> anyhow::Result<AuthMode> {
        match token {
            Some(token) => {
                if let Some(problem) = crate::defaults::gateway_token_problem(token.expose()) {
                    anyhow::bail!("gateway token {problem}; set it in {}", TOKEN_VARS[0]);
                }
                Ok(AuthMode::Token(token))
            }
            None if insecure_no_auth && bind.is_loopback() => Ok(AuthMode::Disabled),
            None if insecure_no_auth => anyhow::bail!(
                "--insecure-no-auth is only allowed on a loopback bind address, not {bind} \
                 (set {} to a random token of at least {MIN_TOKEN_LEN} characters)",
                TOKEN_VARS[0]
            ),
            None => anyhow::bail!(
                "no gateway token configured (set {} or {} (or their _FILE variants) to a random token \
                 of at least {MIN_TOKEN_LEN} characters, or pass --insecure-no-auth on a loopback bind)",
                TOKEN_VARS[0],
                TOKEN_VARS[1]
            ),
        }
    }

    /// Checks a presented token in constant time (for equal lengths; a length
    /// difference is rejected without comparing bytes).
    pub fn check(&self, presented: Option<&str>) -> AuthOutcome {
        let expected = match self {
            AuthMode::Disabled => return AuthOutcome::Ok,
            AuthMode::Token(t) => t,
        };
        match presented.map(str::trim) {
            None | Some("") => AuthOutcome::Missing,
            Some(p) if bool::from(p.as_bytes().ct_eq(expected.expose().as_bytes())) => {
                AuthOutcome::Ok
            }
            Some(_) => AuthOutcome::Mismatch,
        }
    }

    /// `token` or `none`, for logs and `config.get`.
    pub fn label(&self) -> &'static str {
        match self {
            AuthMode::Token(_) => "token",
            AuthMode::Disabled => "none",
        }
    }
}

/// Reads the token from the first of `defaults::TOKEN_VARS` (or `_FILE`) that is set.
pub fn load_token() -> anyhow::Result<Option<Secret>> {
    for name in TOKEN_VARS {
        if let Some(token) = read_secret(name).with_context(|| format!("reading {name}"))? {
            return Ok(Some(token));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const ANY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

    #[test]
    fn startup_rules() {
        let good = Secret::new("3f9a1c0e5b7d2486af01c3e5d7b9f1a2");
        assert!(matches!(
            AuthMode::from_startup(Some(good.clone()), false, ANY),
            Ok(AuthMode::Token(_))
        ));
        let short = AuthMode::from_startup(Some(Secret::new("short-token")), false, LOOPBACK);
        let msg = short.unwrap_err().to_string();
        assert!(msg.contains("too short") && !msg.contains("short-token"));
        let placeholder = Secret::new("change-me-to-a-long-random-token");
        let msg = AuthMode::from_startup(Some(placeholder), false, LOOPBACK)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("placeholder") && msg.contains("openssl rand -hex 32"),
            "{msg}"
        );
        assert!(AuthMode::from_startup(None, false, LOOPBACK).is_err());
        assert!(AuthMode::from_startup(None, true, ANY).is_err());
        assert!(matches!(
            AuthMode::from_startup(None, true, LOOPBACK),
            Ok(AuthMode::Disabled)
        ));
    }

    #[test]
    fn check_distinguishes_missing_and_mismatch() {
        let mode = AuthMode::Token(Secret::new("t".repeat(30)));
        assert_eq!(mode.check(Some(&"t".repeat(30))), AuthOutcome::Ok);
        assert_eq!(mode.check(Some(&"t".repeat(29))), AuthOutcome::Mismatch);
        assert_eq!(mode.check(Some(&"u".repeat(30))), AuthOutcome::Mismatch);
        assert_eq!(mode.check(Some("  ")), AuthOutcome::Missing);
        assert_eq!(mode.check(None), AuthOutcome::Missing);
        assert_eq!(AuthMode::Disabled.check(None), AuthOutcome::Ok);
    }

    #[test]
    fn messages_start_with_the_protocol_prefixes() {
        assert!(MISSING_MESSAGE.starts_with("unauthorized: gateway token missing ("));
        assert!(MISMATCH_MESSAGE.starts_with("unauthorized: gateway token mismatch ("));
    }
}
