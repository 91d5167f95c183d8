//! Adapter: a service of the merged compose model (or a Swarm stack's) → [`Workload`].

use super::{
    At, Confinement, EnvVar, Field, Health, Image, ImageFacts, Kind, Limits, Logging, Mount,
    Networks, Port, User, Workload,
};
use crate::input::compose::{Compose, Service};
use crate::input::project::{read_text, Project};
use crate::input::yaml::{Node, Value};
use crate::vocab::caps;
use crate::{input::interp, model::oneshot};

/// What the adapter reads besides the service: the other services (shared networks,
/// one-shot jobs) and the project (Dockerfiles that build its image, env files).
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub compose: &'a Compose,
    /// `None`: a compose model without a project (tests); no image is known as built.
    pub project: Option<&'a Project>,
    /// The service is read from a Swarm stack file.
    pub swarm: bool,
}

/// A scalar's value (resolved), empty for anything else.
pub(crate) fn text(n: &Node) -> String {
    n.scalar().unwrap_or_default()
}

/// The text as written in the file (interpolation references, never resolved values).
pub(crate) fn shown(n: &Node) -> String {
    n.raw_str()
        .map(str::to_owned)
        .or_else(|| n.scalar())
        .unwrap_or_default()
}

pub fn workload(s: &Service, cx: &Context<'_>) -> Workload {
    let swarm = cx.swarm;
    let user = match s.get("user") {
        // An empty `user:` (e.g. an unset variable) keeps the image's USER.
        Some(u) if !text(u).trim().is_empty() => {
            Field::new(User::Set(text(u)), At::Compose(u.pos), shown(u))
        }
        Some(u) => Field::new(User::FromImage, At::Compose(u.pos), shown(u)),
        None => Field::new(User::FromImage, At::Compose(s.pos), ""),
    };
    let privileged = s
        .get("privileged")
        .map(|p| Field::new(p.is_true(), At::Compose(p.pos), shown(p)));
    // `security_opt` entries, normalised (`seccomp=unconfined` = `seccomp:unconfined`).
    let opts: Vec<(String, &Node)> = s
        .get("security_opt")
        .map(|n| {
            n.as_seq()
                .iter()
                .map(|o| (text(o).replace('=', ":").to_ascii_lowercase(), o))
                .collect()
        })
        .unwrap_or_default();
    let opts_at = At::Compose(s.at("security_opt"));
    let nnp = opts
        .iter()
        .any(|(o, _)| o == "no-new-privileges" || o == "no-new-privileges:true");
    let confinement = |unconfined: &str| match opts.iter().find(|(o, _)| o == unconfined) {
        Some((_, n)) => Field::new(Confinement::Unconfined, At::Compose(n.pos), shown(n)),
        None => Field::new(Confinement::Default, opts_at, ""),
    };
    let read_only_rootfs = match s.get("read_only") {
        Some(r) => Field::new(Some(r.is_true()), At::Compose(r.pos), shown(r)),
        None => Field::new(None, At::Compose(s.pos), ""),
    };
    let caps_of = |key: &str| -> Vec<&Node> {
        s.get(key)
            .map(|n| n.as_seq().iter().collect())
            .unwrap_or_default()
    };
    let cap_drop_all = Field::new(
        caps_of("cap_drop")
            .iter()
            .any(|c| caps::name(&text(c)) == "ALL"),
        At::Compose(s.at("cap_drop")),
        "",
    );
    let cap_add = caps_of("cap_add")
        .into_iter()
        .map(|c| Field::new(caps::name(&text(c)), At::Compose(c.pos), shown(c)))
        .collect();
    let lim = s
        .get("deploy")
        .and_then(|d| d.get("resources"))
        .and_then(|r| r.get("limits"));
    let has = |svc_key: &str, deploy_key: &str| {
        s.get(svc_key).is_some() || lim.and_then(|l| l.get(deploy_key)).is_some()
    };
    let limits = Limits {
        cpus: has("cpus", "cpus"),
        memory: has("mem_limit", "memory"),
    };
    let host_namespaces = [
        ("network_mode", "network"),
        ("pid", "pid"),
        ("ipc", "ipc"),
        ("uts", "uts"),
    ]
    .into_iter()
    .filter_map(|(key, ns)| {
        let v = s.get(key).filter(|v| text(v) == "host")?;
        Some(Field::new(ns, At::Compose(v.pos), key))
    })
    .collect();
    let logging = Some(match s.get("logging") {
        None => Field::new(Logging::Unset, At::Compose(s.pos), ""),
        Some(l) => {
            let driver = l
                .get("driver")
                .map(text)
                .unwrap_or_else(|| "json-file".into());
            let max_size = l.get("options").and_then(|o| o.get("max-size")).is_some();
            Field::new(Logging::Driver { driver, max_size }, At::Compose(l.pos), "")
        }
    });
    let ports_node = s.get("ports");
    let ports = ports_node
        .map(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .map(port)
        .collect::<Vec<_>>();
    let publishes = Field::new(!ports.is_empty(), At::Compose(s.at("ports")), "");
    Workload {
        at: At::Compose(s.pos),
        ports,
        publishes,
        publish_all_ports: false,
        public_bind_allowed: false,
        mounts: mounts(s),
        networks: Some(networks(s, cx.compose)),
        healthcheck: healthcheck(s),
        one_shot: oneshot::is_one_shot(s, cx.compose).is_some(),
        uses_secrets: uses_secrets(s),
        env: env(s, cx.project),
        key_vars: Vec::new(),
        image: image(s, cx.project),
        logging,
        host_namespaces,
        limits: Field::new(limits, At::Compose(s.pos), ""),
        pids_limit: Some(Field::new(
            has("pids_limit", "pids"),
            At::Compose(s.pos),
            "",
        )),
        read_only_rootfs,
        cap_drop_all,
        cap_add,
        kind: if swarm {
            Kind::SwarmService
        } else {
            Kind::ComposeService
        },
        subject: format!("service {}", s.name),
        user,
        privileged,
        no_new_privileges: Field::new(nnp, opts_at, ""),
        seccomp: confinement("seccomp:unconfined"),
        apparmor: confinement("apparmor:unconfined"),
    }
}

/// One `ports:` entry, short (`"127.0.0.1:80:80/tcp"`) or long syntax.
fn port(p: &Node) -> Field<Port> {
    let at = At::Compose(p.pos);
    if let Value::Map(_) = p.value {
        let host_ip = p.get("host_ip").map(text).unwrap_or_default();
        let value = Port {
            host_ip,
            host_ip_written: p.get("host_ip").map(shown).filter(|h| !h.is_empty()),
            published: p.get("published").map(shown),
            target: p.get("target").map(text).unwrap_or_default(),
            long: true,
        };
        return Field::new(value, at, shown(p));
    }
    let value = text(p);
    let spec = value.split('/').next().unwrap_or("");
    let (host_ip, rest) = if let Some(rest) = spec.strip_prefix('[') {
        let (ip, rest) = rest.split_once(']').unwrap_or((rest, ""));
        (ip.to_string(), rest.trim_start_matches(':').to_string())
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        if parts.len() >= 3 {
            (
                parts[..parts.len() - 2].join(":"),
                parts[parts.len() - 2..].join(":"),
            )
        } else {
            (String::new(), spec.to_string())
        }
    };
    let (published, target) = match rest.split_once(':') {
        Some((h, c)) => (Some(h.to_string()).filter(|h| !h.is_empty()), c.to_string()),
        None => (None, rest),
    };
    let value = Port {
        host_ip,
        host_ip_written: None,
        published,
        target,
        long: false,
    };
    Field::new(value, at, shown(p))
}

/// Host paths in `volumes:` (short or long syntax); named and anonymous volumes are not
/// host paths. A bind whose source interpolated to nothing has an empty source.
fn mounts(s: &Service) -> Vec<Field<Mount>> {
    let host_path =
        |src: &str| src.starts_with('/') || src.starts_with('.') || src.starts_with('~');
    let mut out = Vec::new();
    for v in s.get("volumes").map(Node::as_seq).unwrap_or_default() {
        let (source, target, read_only) = match &v.value {
            Value::Map(_) => {
                let ty = v.get("type").map(text).unwrap_or_default();
                let src = v.get("source").map(text).unwrap_or_default();
                let bind_unset = ty == "bind" && src.trim().is_empty();
                if !bind_unset && ty != "bind" && !host_path(&src) {
                    continue;
                }
                let src = if bind_unset { String::new() } else { src };
                let target = v.get("target").map(text).unwrap_or_default();
                (src, target, v.get("read_only").is_some_and(Node::is_true))
            }
            _ => {
                let t = text(v);
                let parts: Vec<&str> = t.split(':').collect();
                if parts.len() < 2 {
                    continue;
                }
                let src = parts[0].to_string();
                if !src.is_empty() && !host_path(&src) {
                    continue; // named volume
                }
                let ro = parts
                    .get(2)
                    .is_some_and(|m| m.split(',').any(|o| o == "ro" || o == "readonly"));
                (src, parts[1].to_string(), ro)
            }
        };
        let mount = Mount {
            source,
            target,
            read_only,
        };
        out.push(Field::new(mount, At::Compose(v.pos), shown(v)));
    }
    out
}

/// `networks:` (placed there, else at the service) and who shares the default network.
fn networks(s: &Service, compose: &Compose) -> Field<Networks> {
    let nets = s.networks();
    let mode = s.get("network_mode").map(text);
    let default = s.joins_default();
    // Counted once for the whole file (service names are unique keys): the others are
    // the count less this one.
    let sharing = if default {
        compose.on_default_network.saturating_sub(1)
    } else {
        0
    };
    let at = if nets.is_empty() {
        s.pos
    } else {
        s.at("networks")
    };
    let value = Networks {
        // `network_mode: bridge` is Docker's default bridge, shared by every container.
        default_bridge: nets.is_empty() && mode.as_deref() == Some("bridge"),
        project_default: default,
        sharing,
        joined: nets
            .iter()
            .map(|n| {
                let internal = compose.networks.iter().any(|d| &d.name == n && d.internal);
                (n.clone(), internal)
            })
            .collect(),
        internal_required: false,
    };
    Field::new(value, At::Compose(at), mode.unwrap_or_default())
}

/// `healthcheck:`: a `test`, disabled, or left to the image (absent, `disable: false`,
/// options only).
fn healthcheck(s: &Service) -> Field<Health> {
    let Some(hc) = s.get("healthcheck") else {
        return Field::new(Health::FromImage, At::Compose(s.pos), "");
    };
    let disabled = hc.get("disable").is_some_and(Node::is_true)
        || hc.get("test").is_some_and(|t| {
            t.as_seq().first().map(text).as_deref() == Some("NONE") || text(t) == "NONE"
        });
    if disabled {
        Field::new(Health::Disabled, At::Compose(hc.pos), "")
    } else if hc.get("test").is_some() {
        Field::new(Health::Defined, At::Compose(hc.pos), "")
    } else {
        Field::new(Health::FromImage, At::Compose(s.pos), "")
    }
}

/// Compose `secrets:` given to the service.
fn uses_secrets(s: &Service) -> bool {
    s.get("secrets")
        .is_some_and(|n| !n.as_seq().is_empty() || !n.entries().is_empty())
}

/// `environment:` entries, then (for a service that reads secrets from files, the only
/// judgement over them) the entries of its `env_file:`s, read relative to the project root.
fn env(s: &Service, project: Option<&Project>) -> Vec<Field<EnvVar>> {
    let mut out: Vec<Field<EnvVar>> = s
        .get("environment")
        .map(Service::pairs_of)
        .unwrap_or_default()
        .into_iter()
        .map(|(key, v)| {
            let var = EnvVar {
                key,
                value: text(&v),
                env_file: None,
            };
            Field::new(var, At::Compose(v.pos), shown(&v))
        })
        .collect();
    let Some(project) = project.filter(|_| uses_secrets(s)) else {
        return out;
    };
    for file in env_files(s) {
        let Some(path) = file.scalar() else { continue };
        // An env file that does not exist (yet) or cannot be read passes nothing we can see.
        let Ok(Some(src)) = read_text(&project.root, &project.root.join(&path)) else {
            continue;
        };
        for (key, value, _) in interp::parse_dotenv_lines(&src.text) {
            let var = EnvVar {
                key,
                value,
                env_file: Some(path.clone()),
            };
            out.push(Field::new(var, At::Compose(file.pos), ""));
        }
    }
    out
}

/// `env_file:` as a string, a list of strings, or a list of `{path: ...}` maps.
fn env_files(s: &Service) -> Vec<Node> {
    match s.get("env_file") {
        None => Vec::new(),
        Some(n) if n.scalar().is_some() => vec![n.clone()],
        Some(n) => n
            .as_seq()
            .iter()
            .map(|e| e.get("path").cloned().unwrap_or_else(|| e.clone()))
            .collect(),
    }
}

/// `image:` (placed there, else at the service) and the Dockerfile that builds it.
fn image(s: &Service, project: Option<&Project>) -> Option<Field<Image>> {
    let img = s.get("image");
    let builds = s.get("build").is_some();
    if img.is_none() && !builds {
        return None;
    }
    let reference = img.map(text).unwrap_or_default();
    let built_here = builds || project.is_some_and(|p| p.builds_image(&reference));
    let dockerfile = project
        .and_then(|p| Some((p, p.image_source(s)?)))
        .map(|(p, src)| {
            let inline = src.file.is_none().then(|| {
                let key = s.get("build").and_then(|b| b.key("dockerfile_inline"));
                At::Compose(key.map_or(s.pos, |k| k.pos))
            });
            let (user, healthcheck) = p.stage_facts(&src);
            ImageFacts {
                user,
                healthcheck,
                stage: src.target.clone(),
                via: src.via.clone(),
                inline,
            }
        });
    let value = Image {
        reference,
        builds,
        built_here,
        dockerfile,
    };
    let at = At::Compose(img.map_or(s.pos, |i| i.pos));
    Some(Field::new(value, at, img.map(shown).unwrap_or_default()))
}
