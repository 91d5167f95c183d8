//! The one list of gateway methods and events. It drives dispatch (scope and support
//! per method), `hello-ok.features` and the tables of docs/protocol.md (a test checks
//! the document against it).

use serde_json::Value;

use crate::gateway::scopes::Scope;

/// How this gateway answers a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented and advertised in `hello-ok.features.methods`.
    Implemented,
    /// A real OpenClaw method this gateway does not offer (no channels, nodes, cron,
    /// plugins...): answered with an `UNAVAILABLE` error naming the reason, not
    /// advertised.
    Refused(&'static str),
}

/// One method: name, the operator scope it requires, support and a one-line summary.
#[derive(Debug, Clone, Copy)]
pub struct Method {
    pub name: &'static str,
    pub scope: Scope,
    pub support: Support,
    pub summary: &'static str,
    /// For the methods whose scope depends on their params: that scope (`scope` is
    /// then the least one, as documented).
    pub scope_by_params: Option<fn(Option<&Value>) -> Scope>,
}

impl Method {
    /// The scope this request needs: [`Method::scope`], or what its params require.
    pub fn required_scope(&self, params: Option<&Value>) -> Scope {
        self.scope_by_params.map_or(self.scope, |f| f(params))
    }
}

const fn m(name: &'static str, scope: Scope, summary: &'static str) -> Method {
    Method {
        name,
        scope,
        support: Support::Implemented,
        summary,
        scope_by_params: None,
    }
}

/// An implemented method whose scope depends on its params (at least `scope`).
const fn by_params(
    name: &'static str,
    scope: Scope,
    scope_of: fn(Option<&Value>) -> Scope,
    summary: &'static str,
) -> Method {
    Method {
        scope_by_params: Some(scope_of),
        ..m(name, scope, summary)
    }
}

const fn refused(name: &'static str, scope: Scope, reason: &'static str) -> Method {
    Method {
        name,
        scope,
        support: Support::Refused(reason),
        summary: "",
        scope_by_params: None,
    }
}

use Scope::{Admin, Read, Write};

const NO_CHANNELS: &str = "this gateway has no messaging channels";
const NO_NODES: &str = "this gateway has no nodes or devices";
const NO_CRON: &str = "this gateway has no cron scheduler";
const NO_PLUGINS: &str = "this gateway has no plugins, skills or tools";
const NO_CONFIG_WRITES: &str =
    "this gateway is configured by flags and environment only (see clawdbot serve --help)";

/// `agent`'s scope (like the real gateway): `/new` or `/reset` needs `operator.admin`.
fn agent_scope(params: Option<&Value>) -> Scope {
    let msg = params
        .and_then(Value::as_object)
        .and_then(|o| o.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let lower = msg.trim_start().to_ascii_lowercase();
    let reset = ["/new", "/reset"]
        .iter()
        .any(|c| lower == *c || lower.starts_with(&format!("{c} ")));
    if reset {
        Scope::Admin
    } else {
        Scope::Write
    }
}

/// `sessions.patch`'s scope (like the real gateway): anything beyond label and model
/// needs `operator.admin`.
fn patch_scope(params: Option<&Value>) -> Scope {
    const WRITE_FIELDS: &[&str] = &["key", "agentId", "label", "model"];
    let all_write = params
        .and_then(Value::as_object)
        .is_none_or(|o| o.keys().all(|k| WRITE_FIELDS.contains(&k.as_str())));
    if all_write {
        Scope::Write
    } else {
        Scope::Admin
    }
}

/// Every method the gateway knows, in documentation order.
pub const METHODS: &[Method] = &[
    m("health", Read, "Health snapshot (`openclaw health --json` shape)."),
    m("status", Read, "Status summary (`openclaw status --json` shape) plus this gateway's version, mode and limits."),
    m("system-presence", Read, "Presence list: this gateway."),
    m("config.get", Read, "Effective configuration, secrets replaced by `__OPENCLAW_REDACTED__`."),
    m("last-heartbeat", Read, "Last heartbeat: none (heartbeats are disabled)."),
    m("channels.status", Read, "Channel status: no channels."),
    m("diagnostics.stability", Read, "Stability snapshot: uptime, connections, runs, sessions, memory."),
    m("logs.tail", Read, "Tail of the gateway's own log lines (bounded in-memory ring, secrets masked)."),
    m("agents.list", Read, "The one agent, `main`."),
    m("models.list", Read, "The configured provider's model catalog."),
    m("commands.list", Read, "Slash commands understood by `chat.send`: none beyond plain text."),
    m("question.list", Read, "Pending agent questions: none (this gateway runs no tools that ask)."),
    m("plugin.approval.list", Read, "Pending plugin approvals: none (no plugins)."),
    by_params("agent", Write, agent_scope, "Run the agent: an `accepted` ack, then the final result on the same request id; streams `agent` and `chat` events."),
    m("chat.send", Write, "Start a chat run in a session; streams `chat` deltas then `final`/`error`/`aborted`."),
    m("chat.history", Read, "A session's transcript."),
    m("chat.abort", Write, "Abort a session's run (or one run by id); upstream request cancelled."),
    m("sessions.list", Read, "Sessions in memory, most recent first."),
    m("sessions.subscribe", Read, "Receive `sessions.changed` events on this connection."),
    m("sessions.unsubscribe", Read, "Stop `sessions.changed` events."),
    m("sessions.messages.subscribe", Read, "Receive `session.message` events for one session."),
    m("sessions.messages.unsubscribe", Read, "Stop `session.message` events for one session."),
    m("sessions.resolve", Read, "Canonical key of a session (key, label or session id)."),
    m("sessions.describe", Read, "One session's row."),
    m("sessions.create", Write, "Create a session (optionally with a label or model)."),
    by_params("sessions.patch", Write, patch_scope, "Change a session's label or model."),
    m("sessions.reset", Admin, "Clear a session's transcript and give it a new session id."),
    m("sessions.delete", Admin, "Delete a session and its transcript."),
    m("sessions.compact", Admin, "Drop the oldest messages of a transcript, keeping the last ones."),
    refused("channels.start", Admin, NO_CHANNELS),
    refused("channels.stop", Admin, NO_CHANNELS),
    refused("channels.logout", Admin, NO_CHANNELS),
    refused("send", Write, NO_CHANNELS),
    refused("wake", Write, NO_CHANNELS),
    refused("node.list", Read, NO_NODES),
    refused("node.describe", Read, NO_NODES),
    refused("node.invoke", Write, NO_NODES),
    refused("device.pair.list", Admin, NO_NODES),
    refused("cron.list", Read, NO_CRON),
    refused("cron.status", Read, NO_CRON),
    refused("cron.add", Admin, NO_CRON),
    refused("cron.run", Admin, NO_CRON),
    refused("skills.status", Read, NO_PLUGINS),
    refused("tools.catalog", Read, NO_PLUGINS),
    refused("tools.effective", Read, NO_PLUGINS),
    refused("tools.invoke", Write, NO_PLUGINS),
    refused("plugins.list", Read, NO_PLUGINS),
    refused("usage.status", Read, "this gateway does not track usage or cost"),
    refused("usage.cost", Read, "this gateway does not track usage or cost"),
    refused("agents.create", Admin, "this gateway has exactly one agent, main"),
    refused("agents.update", Admin, "this gateway has exactly one agent, main"),
    refused("agents.delete", Admin, "this gateway has exactly one agent, main"),
    refused("agent.wait", Write, "use the final response of `agent` (expectFinal)"),
    refused("config.set", Admin, NO_CONFIG_WRITES),
    refused("config.patch", Admin, NO_CONFIG_WRITES),
    refused("config.apply", Admin, NO_CONFIG_WRITES),
    refused("update.run", Admin, "update the container image instead (cargo xtask build)"),
];

/// One event the gateway emits: name, who receives it, one-line summary.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub name: &'static str,
    pub audience: &'static str,
    pub summary: &'static str,
}

/// Every event the gateway emits (advertised in `hello-ok.features.events`).
pub const EVENTS: &[Event] = &[
    Event {
        name: "connect.challenge",
        audience: "every new connection",
        summary: "First frame: nonce and time.",
    },
    Event {
        name: "tick",
        audience: "every connection",
        summary: "Every `tickIntervalMs`.",
    },
    Event {
        name: "shutdown",
        audience: "every connection",
        summary: "The gateway is stopping.",
    },
    Event {
        name: "chat",
        audience: "connections with `operator.read`",
        summary: "`delta` (streamed text), then `final`, `error` or `aborted`.",
    },
    Event {
        name: "agent",
        audience: "connections with `operator.read`",
        summary: "Run stream: `lifecycle` (start/end/error) and `assistant` (text so far).",
    },
    Event {
        name: "sessions.changed",
        audience: "connections that called `sessions.subscribe`",
        summary: "A session was created, changed, reset, compacted, evicted or deleted.",
    },
    Event {
        name: "session.message",
        audience: "connections subscribed with `sessions.messages.subscribe` to that session",
        summary: "A message was added to the transcript.",
    },
];

/// `hello-ok.features.capabilities`.
pub const CAPABILITIES: &[&str] = &["published-model-catalog", "model-catalog-snapshot"];

pub fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

/// Names of the implemented methods (`hello-ok.features.methods`).
pub fn implemented() -> impl Iterator<Item = &'static str> {
    METHODS
        .iter()
        .filter(|m| m.support == Support::Implemented)
        .map(|m| m.name)
}

/// Path of the OpenAI-compatible model list (`src/openai/`, `--openai-api`).
pub const MODELS_PATH: &str = "/v1/models";
/// Path of the OpenAI-compatible chat completions (`src/openai/`, `--openai-api`).
pub const CHAT_COMPLETIONS_PATH: &str = "/v1/chat/completions";

/// The HTTP routes of the gateway port besides the WebSocket: (method, path, auth,
/// what it does). The OpenAI-compatible ones are served with `--openai-api` only.
pub const HTTP_ROUTES: [(&str, &str, &str, &str); 4] = [
    ("GET", "/health", "none", "liveness (also on the health port)"),
    ("GET", "/ready", "none", "readiness (also on the health port)"),
    (
        "GET",
        MODELS_PATH,
        "bearer token",
        "`--openai-api`: the `models.list` catalog as OpenAI models (`provider/model` ids); see docs/openai-api.md",
    ),
    (
        "POST",
        CHAT_COMPLETIONS_PATH,
        "bearer token",
        "`--openai-api`: OpenAI Chat Completions, JSON or SSE (`stream: true`); see docs/openai-api.md",
    ),
];

/// The method table, the HTTP routes and the event list of docs/protocol.md, generated
/// from [`METHODS`], [`HTTP_ROUTES`] and [`EVENTS`].
pub fn markdown() -> String {
    let mut out =
        String::from("| method | scope | support | what it does |\n| --- | --- | --- | --- |\n");
    for m in METHODS {
        let (support, what) = match m.support {
            Support::Implemented => ("implemented", m.summary.to_string()),
            Support::Refused(reason) => ("honest refusal", format!("`UNAVAILABLE`: {reason}.")),
        };
        out.push_str(&format!(
            "| `{}` | `{}` | {support} | {what} |\n",
            m.name,
            m.scope.as_str()
        ));
    }
    out.push_str("\n| HTTP route | auth | what it does |\n| --- | --- | --- |\n");
    for (method, path, auth, what) in HTTP_ROUTES {
        out.push_str(&format!("| `{method} {path}` | {auth} | {what} |\n"));
    }
    out.push_str("\n| event | sent to | payload |\n| --- | --- | --- |\n");
    for e in EVENTS {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            e.name, e.audience, e.summary
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate method in METHODS");
        let mut events: Vec<&str> = EVENTS.iter().map(|e| e.name).collect();
        events.sort_unstable();
        events.dedup();
        assert_eq!(events.len(), EVENTS.len(), "duplicate event in EVENTS");
    }

    /// docs/protocol.md carries the generated tables verbatim between markers.
    /// `CLAWDBOT_UPDATE_DOCS=1 cargo test -p clawdbot --lib protocol_doc` rewrites them.
    #[test]
    fn protocol_doc_matches_the_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/protocol.md");
        let doc = std::fs::read_to_string(&path).expect("docs/protocol.md");
        let start = "<!-- methods:begin (generated from src/gateway/methods/table.rs) -->\n";
        let end = "<!-- methods:end -->";
        let i = doc
            .find(start)
            .expect("methods:begin marker in docs/protocol.md");
        let j = doc
            .find(end)
            .expect("methods:end marker in docs/protocol.md");
        let want = markdown();
        if doc[i + start.len()..j] == want {
            return;
        }
        if std::env::var_os("CLAWDBOT_UPDATE_DOCS").is_some() {
            let updated = format!("{}{want}{}", &doc[..i + start.len()], &doc[j..]);
            std::fs::write(&path, updated).expect("write docs/protocol.md");
            return;
        }
        panic!(
            "docs/protocol.md method/event tables are stale; run \
             CLAWDBOT_UPDATE_DOCS=1 cargo test -p clawdbot --lib protocol_doc"
        );
    }
}
