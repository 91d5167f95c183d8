//! Gateway request handlers, one file per family, all driven by the method table:
//! `table` (the one list of methods, scopes and events), `system` (health, status,
//! presence, config, agents, models, channels...), `sessions`, `chat` (`agent`,
//! `chat.*`), `logs` (`logs.tail`), and `hello` (the `hello-ok` payload).
//!
//! Nothing here ever returns a secret. Long-running work (chat runs) is spawned as a
//! task (`gateway::runs`), so no handler blocks the connection's read loop.

mod chat;
mod hello;
mod logs;
mod params;
mod session_row;
mod sessions;
mod system;
pub mod table;

use std::sync::Arc;

use serde_json::Value;

use super::conns::Conn;
use super::scopes;
use super::Gateway;
use crate::protocol::{codes, ErrorShape, RequestFrame};
use table::Support;

pub use hello::hello_ok;
pub use system::REDACTED;

/// What a handler knows about the request: the gateway, the calling connection, the
/// negotiated protocol and the request itself.
pub struct Ctx<'a> {
    pub gw: &'a Arc<Gateway>,
    pub conn: &'a Arc<Conn>,
    pub protocol: u32,
    pub req: &'a RequestFrame,
}

impl Ctx<'_> {
    fn params(&self) -> Option<&Value> {
        self.req.params.as_ref()
    }
}

/// Runs one request (other than `connect`): looks the method up in the table, checks
/// the caller's scope, then calls its handler.
pub async fn dispatch(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let name = ctx.req.method.as_str();
    if name == "connect" {
        return Err(ErrorShape::invalid("already connected"));
    }
    let Some(method) = table::find(name) else {
        return Err(ErrorShape::invalid(format!("unknown method: {name}")));
    };
    let required = method.required_scope(ctx.params());
    if !ctx.conn.grant.allows(required) {
        return Err(scopes::missing(required));
    }
    if let Support::Refused(reason) = method.support {
        return Err(ErrorShape::new(
            codes::UNAVAILABLE,
            format!("{name} is not supported by this gateway: {reason}"),
        )
        .with_details(serde_json::json!({ "method": name, "supported": false })));
    }
    match name {
        "health" => Ok(system::health(ctx.gw, std::time::Instant::now())),
        "status" => Ok(system::status(ctx)),
        "system-presence" => Ok(Value::Array(vec![system::presence_value(ctx.gw)])),
        "config.get" => Ok(system::config_get(ctx.gw)),
        "last-heartbeat" => Ok(Value::Null),
        "channels.status" => Ok(system::channels_status()),
        "diagnostics.stability" => Ok(system::stability(ctx.gw)),
        "logs.tail" => logs::tail(ctx.params()),
        "agents.list" => Ok(system::agents_list(ctx.gw)),
        "models.list" => Ok(system::models_list(ctx.gw)),
        "commands.list" => Ok(system::commands_list()),
        "question.list" => Ok(serde_json::json!({ "questions": [] })),
        "plugin.approval.list" => Ok(Value::Array(Vec::new())),
        "agent" => chat::agent(ctx),
        "chat.send" => chat::send(ctx),
        "chat.history" => chat::history(ctx),
        "chat.abort" => chat::abort(ctx),
        "sessions.list" => sessions::list(ctx),
        "sessions.subscribe" => Ok(sessions::subscribe(ctx, true)),
        "sessions.unsubscribe" => Ok(sessions::subscribe(ctx, false)),
        "sessions.messages.subscribe" => sessions::subscribe_messages(ctx, true),
        "sessions.messages.unsubscribe" => sessions::subscribe_messages(ctx, false),
        "sessions.resolve" => sessions::resolve(ctx),
        "sessions.describe" => sessions::describe(ctx),
        "sessions.create" => sessions::create(ctx),
        "sessions.patch" => sessions::patch(ctx),
        "sessions.reset" => sessions::reset(ctx),
        "sessions.delete" => sessions::delete(ctx),
        "sessions.compact" => sessions::compact(ctx),
        // A method marked implemented in the table without a handler here is a bug
        // caught by the `every_implemented_method_is_dispatched` test.
        other => Err(ErrorShape::new(
            codes::UNAVAILABLE,
            format!("{other} has no handler"),
        )),
    }
}
