//! The rule catalog: the only place that knows rule ids, severities, titles, rationales,
//! fixes and which item of the guide's 10-point checklist each rule covers.
//! `--list-rules`, `--explain`, `docs/rules.md` and SARIF's `rules[]` derive from it.

use crate::defaults::SelfCheckId;
use crate::Severity;

/// One item of the guide's hardening checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecklistItem {
    pub number: u8,
    /// Two or three words for the one-line summary.
    pub short: &'static str,
    pub title: &'static str,
}

/// The guide's 10-point checklist, in order.
pub const CHECKLIST: [ChecklistItem; 10] = [
    ChecklistItem {
        number: 1,
        short: "non-root",
        title: "runs as a non-root user",
    },
    ChecklistItem {
        number: 2,
        short: "read-only rootfs",
        title: "read-only root filesystem, no sensitive host mounts",
    },
    ChecklistItem {
        number: 3,
        short: "caps dropped",
        title: "all capabilities dropped, none dangerous added, not privileged",
    },
    ChecklistItem {
        number: 4,
        short: "no-new-privileges",
        title: "no-new-privileges set, seccomp/AppArmor confined",
    },
    ChecklistItem {
        number: 5,
        short: "localhost ports",
        title: "ports published on localhost only",
    },
    ChecklistItem {
        number: 6,
        short: "limits",
        title: "cpu, memory, pids and log limits",
    },
    ChecklistItem {
        number: 7,
        short: "secrets in .env",
        title: "secrets only in .env, never in image or compose",
    },
    ChecklistItem {
        number: 8,
        short: ".env ignored",
        title: ".env git-ignored, .env.example holds placeholders",
    },
    ChecklistItem {
        number: 9,
        short: "healthcheck",
        title: "health check defined",
    },
    ChecklistItem {
        number: 10,
        short: "network isolation",
        title: "network isolation",
    },
];

/// A rule of the catalog.
#[derive(Debug)]
pub struct Rule {
    pub id: RuleId,
    pub severity: Severity,
    pub title: &'static str,
    pub rationale: &'static str,
    pub fix: &'static str,
    /// Checklist item number (1-10), or `None` for hygiene rules outside the checklist.
    pub checklist: Option<u8>,
    /// Which verify reports it: the files, the running stack, or both.
    pub scope: Scope,
    /// Severity when runtime verify reports it (the same as `severity` unless the table
    /// says `Static/Runtime`, e.g. `Note/Error`).
    pub runtime_severity: Severity,
}

/// Where a rule is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `cargo xtask verify` on files (Dockerfile, compose, stack file, manifests).
    Static,
    /// `cargo xtask verify --runtime` on the running stack.
    Runtime,
    Both,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Static => "static",
            Scope::Runtime => "runtime",
            Scope::Both => "static + runtime",
        }
    }
}

macro_rules! rules {
    (@rt $sev:ident) => { Severity::$sev };
    (@rt $sev:ident $rt:ident) => { Severity::$rt };
    ($($var:ident = $id:literal, $sev:ident $(/ $rt:ident)?, $item:expr, $scope:ident, $title:literal, $why:literal, $fix:literal;)*) => {
        /// A rule id of the catalog; serialised as its kebab-case id (`user-root`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RuleId {
            $(#[doc = $title] $var,)*
        }

        impl RuleId {
            /// Every id, in documentation order.
            pub const ALL: &[RuleId] = &[$(RuleId::$var,)*];

            /// The id as written in reports, suppressions and `--explain`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(RuleId::$var => $id,)*
                }
            }
        }

        /// Every rule, in documentation order.
        pub const RULES: &[Rule] = &[$(Rule {
            id: RuleId::$var,
            severity: Severity::$sev,
            runtime_severity: rules!(@rt $sev $($rt)?),
            checklist: $item,
            scope: Scope::$scope,
            title: $title,
            rationale: $why,
            fix: $fix,
        },)*];
    };
}

impl RuleId {
    /// The catalog entry of this id.
    pub fn rule(self) -> &'static Rule {
        // `RULES` and `RuleId` are generated from one list in one order.
        &RULES[self as usize]
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`: widths in tables (`{:<30}`) apply.
        f.pad(self.as_str())
    }
}

/// Ids sort as their text, so reports keep their order whatever the catalog order.
impl Ord for RuleId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for RuleId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// An id the catalog does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule id {0:?}")]
pub struct UnknownRuleId(pub String);

impl std::str::FromStr for RuleId {
    type Err = UnknownRuleId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuleId::ALL
            .iter()
            .copied()
            .find(|id| id.as_str() == s)
            .ok_or_else(|| UnknownRuleId(s.to_string()))
    }
}

impl serde::Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Tests compare ids with their text.
impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

rules! {
    UserRoot = "user-root", Error, Some(1), Both,
    "container runs as root",
    "A process running as uid 0 inside the container is root on the host's kernel; any escape or writable host mount becomes a host compromise. The final Dockerfile stage defaults to root unless it sets USER, and compose `user:` overrides the image. Judged: the stage a service builds (`build.target`, else the final stage) and the stages it builds on, a `build.dockerfile_inline`, compose `user:`. Not judged: pulled images no Dockerfile of the project builds (`user-unknown`).",
    "Add `USER 1000:1000` (a numeric unprivileged uid:gid) to the final stage and do not set `user: root` or `user: \"0\"` in compose.";

    UserUnknown = "user-unknown", Note, Some(1), Static,
    "the user a pulled image runs as is unknown",
    "A service that runs an image pulled from a registry, with no `user:` in compose and no Dockerfile in the project that builds that image, runs as whatever user the image's author chose, often root. Judged: services without `build:` whose `image:` no other service builds, that the settings do not link to a Dockerfile (`dockerfiles = { \"ghcr.io/org/app\" = \"docker/Dockerfile\" }` in `[workspace.metadata.deploy]` of the project's Cargo.toml, any tag), that is not the settings' image (`image_name`, built from the root Dockerfile, any tag), whose repository name is neither the project directory's nor the one the root Dockerfile's `LABEL org.opencontainers.image.source` names (then that Dockerfile's USER is judged), and without `user:`. Not judged: the pulled image itself (verify does not download images); the checklist shows item 1 as unknown, never as passed.",
    "Set `user: \"1000:1000\"` (or the image's documented unprivileged uid) on the service, or build the image from a Dockerfile in the project that sets `USER`.";

    RootfsWritable = "rootfs-writable", Warning/Error, Some(2), Both,
    "root filesystem is writable",
    "A writable root filesystem lets an attacker who gains code execution modify binaries and configuration or drop tools. The service needs no writes outside a small tmpfs.",
    "Set `read_only: true` on the service and give it a `tmpfs:` mount (e.g. `/tmp:size=16m,mode=1777`) for scratch space.";

    SensitiveVolume = "sensitive-volume", Error, Some(2), Both,
    "sensitive host path mounted",
    "Mounting the Docker socket gives full control of the host; mounting /, /etc, /root, /home, /proc, /sys or /dev exposes host secrets and devices; any writable bind mount lets the container change host files. Not reported: read-only time and locale files (`/etc/localtime`, `/etc/timezone`, `/usr/share/zoneinfo`, `/etc/locale.conf`, `/etc/default/locale`). A bind mount whose source is an unset variable is `compose-not-evaluated`.",
    "Remove the mount. If a host directory is really needed, mount a narrow project directory with `:ro` (or `read_only: true` in the long syntax).";

    CapsNotDropped = "caps-not-dropped", Warning/Error, Some(3), Both,
    "capabilities are not all dropped",
    "Docker grants a default capability set (CHOWN, DAC_OVERRIDE, NET_RAW, SETUID, ...) that the service does not need; each one widens what an exploit can do.",
    "Add `cap_drop: [ALL]` to the service and add back only what is proven necessary.";

    CapsAdded = "caps-added", Error, Some(3), Both,
    "capabilities added",
    "`cap_add` re-grants kernel privileges. Capabilities close to root or that break isolation (listed below) are reported as errors; other capabilities as warnings.",
    "Remove the `cap_add` entry; the service binds unprivileged ports and needs no capability.";

    Privileged = "privileged", Error, Some(3), Both,
    "privileged container",
    "`privileged: true` gives the container every capability and all host devices and disables seccomp and AppArmor: it is root on the host.",
    "Remove `privileged: true`.";

    NoNewPrivilegesMissing = "no-new-privileges-missing", Warning/Error, Some(4), Both,
    "no-new-privileges is not set",
    "Without `no-new-privileges`, a setuid binary inside the container can raise privileges again after the process dropped them.",
    "Add `security_opt: [\"no-new-privileges:true\"]` to the service. In a Swarm stack file, which ignores `security_opt`, set `\"no-new-privileges\": true` in `/etc/docker/daemon.json` on every node and suppress the finding with that reason; in Kubernetes set `allowPrivilegeEscalation: false`.";

    SeccompUnconfined = "seccomp-unconfined", Error, Some(4), Both,
    "seccomp disabled",
    "`seccomp:unconfined` removes the default syscall filter that blocks dangerous kernel interfaces.",
    "Remove `seccomp:unconfined` from `security_opt` (the default profile is fine).";

    ApparmorUnconfined = "apparmor-unconfined", Error, Some(4), Both,
    "AppArmor disabled",
    "`apparmor:unconfined` removes the default AppArmor profile that restricts mounts and /proc writes.",
    "Remove `apparmor:unconfined` from `security_opt`.";

    PortNotLoopback = "port-not-loopback", Error, Some(5), Both,
    "port published beyond localhost",
    "A published port without a host IP binds 0.0.0.0 (and ::), which exposes the gateway to the whole network and bypasses host firewalls such as ufw. `expose` is fine: it publishes nothing.",
    "Publish on loopback only: `\"127.0.0.1:18789:18789\"` (or `host_ip: 127.0.0.1` in the long syntax), and reach it through an SSH tunnel or a reverse proxy.";

    LimitsMissing = "limits-missing", Warning, Some(6), Both,
    "cpu or memory limit missing",
    "Without limits a runaway or attacked process can starve the host of CPU or memory.",
    "Set `cpus:` and `mem_limit:` on the service (or `deploy.resources.limits.cpus` and `.memory`).";

    PidsLimitMissing = "pids-limit-missing", Warning, Some(6), Both,
    "pids limit missing",
    "Without a pids limit a fork bomb inside the container exhausts the host's process table.",
    "Set `pids_limit: 256` on the service (or `deploy.resources.limits.pids`).";

    LoggingUnbounded = "logging-unbounded", Warning, Some(6), Both,
    "container logs are unbounded",
    "The default json-file log driver keeps logs forever; a chatty or attacked service fills the disk.",
    "Add `logging: {driver: json-file, options: {max-size: \"10m\", max-file: \"3\"}}` to the service.";

    SecretLiteral = "secret-literal", Error, Some(7), Static,
    "secret written in the image or compose file",
    "Secrets in ENV/ARG/LABEL/RUN end up in image layers and `docker history`; secrets in compose files and committed env files end up in git. Judged (one detector for every file kind): known key formats (Anthropic, OpenAI, AWS, GitHub, Slack, private keys) anywhere; any literal value of a credential-named key (*PASSWORD*, *SECRET*, *TOKEN*, *CREDENTIAL*, *_PASS, *_KEY, ...) whatever its entropy (`POSTGRES_PASSWORD: mypassword` is a weak credential in use); passwords inside URLs (`postgresql://user:pass@db`); literal defaults of credential interpolations (`${ENCRYPTION_KEY:-0000}`); the same in an `env_file:` that git tracks or does not ignore (outside git: that `.gitignore` does not ignore), and in the env files found by name (the root `.env`, `*.env` in the root, `env/*.env`; not `example.env`-like examples) that git tracks (outside git: other than the root `.env`, that `.gitignore` does not ignore), which no `env_file:` needs to name. Credential names include *_AUTH (not switches like `ENABLE_AUTH`), *SALT*, *_SHARED_SECRET, *_PASS; connection strings with a password (`redis://:pw@cache`, `mongodb+srv://u:pw@cluster`). Not judged as secrets: references (`${VAR}`, `*_FILE` and `/run/secrets/...` paths), placeholders (`change-me`, `changeme`, `replace_me`, `your-...`, `<...>`, `xxx...`, `user_provided`, `generate...`, `dummy`, `example`, `placeholder`, empty), switches (`true`, `no`), names that qualify a credential (`PASSWORD_MIN_LENGTH`, `TOKEN_EXPIRY`, `SALT_ROUNDS`, `PUBLIC_KEY`), identifiers (`*_ACCESS_KEY`, `*_KEY_ID`: the id half of a key pair), git-ignored env files (the intended channel). Values are never printed.",
    "Move the value to `.env` (git-ignored) and reference it with `env_file: .env` or `${VAR}`; rotate the exposed secret.";

    SecretInEnvironment = "secret-in-environment", Note/Error, Some(7), Both,
    "key passed as an environment variable although secrets are configured",
    "Once a service reads its keys from Docker secrets (`/run/secrets`, `*_FILE` variables), a key that still arrives through `environment:` or `env_file:` is visible to anyone who can `docker inspect` the container and to every process it starts. Statically a note: the compose file defines `secrets:` for the service but a provider key or token variable is still passed as plain environment. At runtime an error: the key is visible in the container's `Config.Env` while the service is configured for secrets (it has `/run/secrets` mounts or `*_FILE` variables, or the `secrets` setting is on). Without secrets, `env_file: .env` is the intended channel and nothing is reported.",
    "Remove the variable from `environment:`/`.env` and pass it as `<NAME>_FILE=/run/secrets/<name>` with a compose `secrets:` entry (`cargo xtask init` with `secrets = true` renders this).";

    EnvInBuildContext = "env-in-build-context", Error, Some(7), Static,
    ".env is copied into the image",
    "A `COPY . .` (or a `COPY` of a directory that holds a `.env`) without a `.dockerignore` that excludes it bakes the keys into an image layer, readable by anyone who pulls the image. Judged per Dockerfile, at the first `COPY`/`ADD` (not `--from`) that sends each `.env`: a source that is the whole build context (`.`, `./`, `*`; its own `.env` and the project root's when the root lies inside it), a named directory holding a `.env` (`COPY server .` with `server/.env`), or `.env` itself, when the context's ignore file (`<Dockerfile>.dockerignore`, else `<context>/.dockerignore`) does not exclude it. An error when that `.env` exists; a warning when the copy is into a build stage the final image is not built `FROM` (it takes only what it copies from there, but build tools such as Vite or Next.js bake `.env` values into their output) or when only the project's documented flow creates the `.env` (a `.env.example`, `.env.sample`, `.env.template` or `.env.dist` beside it, or, in the project root, an `env_file: .env`). Not judged: Dockerfiles that copy only named paths (`COPY package.json .`, `COPY dist/ ./dist/`): a `.env` in the context then never reaches the image; globs, variables, URLs, remote (git/URL) contexts. A `build:` whose Dockerfile verify cannot read is judged as a whole context at the `build:`.",
    "Add a `.dockerignore` that excludes `.env` (best: an allowlist starting with `*` that re-includes only what the build needs), or copy only the paths the image needs.";

    EnvNotGitignored = "env-not-gitignored", Error, Some(8), Static,
    ".env is not git-ignored",
    "If `.gitignore` does not ignore `.env`, one `git add .` publishes the keys. Judged only when a `.env` takes part in the deployment: it exists, compose interpolates variables (compose reads `.env` for them), or an `env_file:` names it. Git's own ignore rules (every level, excludes) count inside a work tree. Outside a git work tree, also every other env file (one an `env_file:` names, `*.env` in the root, `env/*.env`; not `example.env`-like examples) that holds credential names with empty or placeholder values and that the root `.gitignore` does not ignore: a warning, once per file (literal values are `secret-literal` findings instead).",
    "Add a line `.env` to `.gitignore` (and a pattern for every other env file that holds keys, such as `*.env`).";

    EnvTracked = "env-tracked", Error, Some(8), Static,
    ".env is tracked by git",
    "A tracked `.env` is in the repository history; ignoring it now does not remove it. Also judged: every other env file git tracks (one an `env_file:` names, `*.env` in the root, `env/*.env`; not `example.env`-like examples) that holds credential names with empty or placeholder values (the template users are told to fill in, then commit): a warning, once per file, not per key (literal values are `secret-literal` findings instead).",
    "Run `git rm --cached <file>` (and ignore it), commit, and rotate every key it held; commit an example with placeholders instead.";

    ExampleHasSecret = "example-has-secret", Error, Some(8), Static,
    ".env.example contains a real secret",
    "`.env.example` is committed on purpose; it must hold placeholders only. Judged with the secret detector of `secret-literal`, where a value that only names its content (letters and separators, e.g. `mmuser_password`, `super-secret-key`) also counts as a placeholder: known key formats, high-entropy or mixed letter/digit values of credential-named keys, passwords in URLs.",
    "Replace the value with a placeholder such as `sk-ant-your-key-here` and rotate the exposed key.";

    HealthcheckMissing = "healthcheck-missing", Warning, Some(9), Both,
    "no health check",
    "Without a health check neither compose nor an orchestrator notices a hung service; `healthcheck: {disable: true}` counts as missing. Judged: a compose `healthcheck.test`, else the HEALTHCHECK of the image's Dockerfile in the project (the service's own `build:` with its `target` stage, or the Dockerfile the settings' `dockerfiles` link to the image, or another service's `build:` of the same image name, or the root Dockerfile for the settings' `image_name`, for an image whose repository name is the project directory's, or for the repository its `LABEL org.opencontainers.image.source` names; the finding says which Dockerfile and why); `healthcheck: {disable: false}` keeps the image's. Not judged: one-shot services (`restart: \"no\"` or `on-failure`, a `deploy.restart_policy` that does not restart always, services only in a tools/cli/setup profile, services others wait for with `service_completed_successfully` (a model-pull job under the default restart policy), interactive services run on demand (`stdin_open` and `tty`, e.g. a CLI container)); a pulled image without a Dockerfile in the project is `healthcheck-unknown`.",
    "Add `HEALTHCHECK CMD [...]` to the Dockerfile or a `healthcheck:` with `test:` to the service.";

    HealthcheckUnknown = "healthcheck-unknown", Note, Some(9), Static,
    "the pulled image's health check is not visible",
    "A service runs a pulled image that no Dockerfile in the project builds and has no compose `healthcheck.test`: the image may or may not define a HEALTHCHECK, which verify cannot see without pulling it. The checklist shows item 9 as unknown. One-shot and interactive services are not judged (see `healthcheck-missing`).",
    "Add a `healthcheck:` with `test:` to the service (check the image's documentation for its health endpoint), or confirm the image's own HEALTHCHECK with `docker inspect` and suppress with that reason.";

    NetworkHost = "network-host", Error, Some(10), Both,
    "host namespace shared",
    "`network_mode: host` puts the service on the host's network stack (ports bypass publishing rules); `pid: host` and `ipc: host` expose host processes and shared memory.",
    "Remove `network_mode: host`, `pid: host` and `ipc: host`; use a user-defined network.";

    NetworkNotIsolated = "network-not-isolated", Warning, Some(10), Both,
    "service on the default network",
    "A service without `networks:` (or with `default` in its list) joins the project's default network, shared with every other service of the project. Judged only when another service of the project also joins the default network (a single-service project, or a service alone on it, shares it with nobody); `network_mode: bridge` joins Docker's default bridge, shared with every container on the host, and is always reported.",
    "Define a network under top-level `networks:` and attach the service to it (use `internal: true` when it needs no outbound access).";

    PortsOnInternalNetwork = "ports-on-internal-network", Warning, Some(10), Both,
    "published ports on an internal-only service",
    "When every network of a service is `internal: true`, Docker silently drops its published ports: the configuration does not do what it says.",
    "Remove `ports:` (reach the service with `compose exec`) or attach it to a non-internal network.";

    ImageUnpinned = "image-unpinned", Warning, None, Static,
    "image not pinned",
    "A rolling tag changes under you; builds are not reproducible and a compromised tag is pulled silently. A digest (`@sha256:...`) is best. Judged as rolling: no tag, `latest`, `main`, `master`, `nightly`, `edge`, `dev`, `develop`, `release`, `stable`, `beta`, `canary`, `rolling`, and `*-latest`, `*-stable`, `*-nightly`, `*-edge`, `*-dev` forms (`main-stable`). Pulled images only: a service with `build:` names the image it builds.",
    "Pin a version tag, or better a digest: `FROM python:3.12-slim@sha256:...`.";

    AddRemote = "add-remote", Warning, None, Static,
    "ADD fetches a remote URL",
    "`ADD <url>` downloads at build time without verification, so the image content depends on a remote server.",
    "Download with a pinned checksum (`ADD --checksum=sha256:... <url>`) or vendor the file and `COPY` it.";

    SwarmIgnoredKey = "swarm-ignored-key", Note, None, Static,
    "compose key ignored by docker stack deploy",
    "`docker stack deploy` ignores keys that `docker compose` honours (docker CLI for engine 20.10: `build`, `cgroupns_mode`, `cgroup_parent`, `container_name`, `devices`, `domainname`, `external_links`, `ipc`, `links`, `mac_address`, `network_mode`, `pid`, `privileged`, `restart`, `security_opt`, `shm_size`, `userns_mode`; measured: `host_ip` in `ports` is dropped and the port is published on every interface). A hardening setting written with such a key is not enforced, so rules it would satisfy are not counted as satisfied in swarm mode.",
    "Express the setting in a form Swarm honours (`deploy.resources.limits`, `deploy.restart_policy`, `read_only`, `cap_drop`), or enforce it outside the stack file (daemon defaults such as `no-new-privileges` in daemon.json); publish no host port and reach the service through an SSH tunnel or a reverse proxy.";

    VariableUnset = "variable-unset", Note, None, Static,
    "a required variable has no value",
    "A compose reference `${VAR:?message}` or `${VAR?message}` makes `docker compose` stop when VAR is unset; in CI the `.env` that sets it is usually git-ignored and absent. Verify does not stop: it notes the variable and verifies the files with VAR unset (empty), so every other check still runs. Files compose rejects whatever the environment (malformed YAML or references, include/extends cycles) still stop verify with exit 2.",
    "Nothing to fix in the files when the deployment sets VAR in `.env` or the environment; set it when you run verify (`VAR=... cargo xtask verify`) to verify with its value.";

    ComposeNotEvaluated = "compose-not-evaluated", Note, None, Static,
    "a compose setting that affects hardening was not evaluated",
    "Verify reads the compose keys its rules judge. A key that changes the container's posture but that no rule evaluates (for example `devices`, `sysctls`, `userns_mode`, `volumes_from`, `security_opt` values other than no-new-privileges/seccomp/apparmor, `network_mode`/`pid`/`ipc` of `service:X` or `container:X`, `build.dockerfile_inline` secrets, a bind mount whose source is an unset variable that `.env.example` does not define either) is reported as `not evaluated: KEY` instead of passing in silence. A bind mount whose variable `.env.example` defines is judged with that value, and a finding on it says \"assumed from .env.example\".",
    "Review the setting by hand; when it is intended, suppress the note with the reason.";

    OpenclawSecretLiteral = "openclaw-secret-literal", Error, Some(7), Static,
    "OpenClaw config holds a secret as a literal",
    "`openclaw.json` is mounted into the container, copied into backups and often committed; a gateway token, password or provider key written in it is readable by anyone who reads the file. OpenClaw resolves SecretRefs (`{source: \"file\" | \"env\" | \"exec\", provider, id}`) and `${VAR}` references at start. Judged: every string of the config whose key names a credential (`token`, `password`, `apiKey`, `*Secret`, ...; the detector of `secret-literal`, with its placeholders) and every string with a known key format. Configs judged: `openclaw.json` at the root and the host side of each bind mount that puts a config into an OpenClaw service (the target is its `OPENCLAW_CONFIG_PATH` or a file named `openclaw.json`, or a mounted directory holds one). Values are never printed.",
    "Replace the value with a SecretRef to a Docker secret: `secrets.providers.<name> = {source: \"file\", path: \"/run/secrets/<name>\", mode: \"singleValue\"}` and `{source: \"file\", provider: \"<name>\", id: \"value\"}` where the value was (`cargo xtask init --app openclaw` renders this); rotate the exposed secret.";

    OpenclawBindNoAuth = "openclaw-bind-no-auth", Error, Some(5), Static,
    "OpenClaw gateway listens beyond loopback without auth",
    "`gateway.auth.mode: \"none\"` lets every client that reaches the port operate the gateway (run agents, read sessions, change config). OpenClaw means it for trusted loopback setups only; with `gateway.bind` `lan`, `tailnet`, `auto` or a `custom` host other than 127.0.0.1 the port is reachable from other machines or, in Docker, from every container on the network. `bind` defaults to `loopback`.",
    "Set `gateway.auth.mode: \"token\"` with the token as a SecretRef, or bind `loopback`.";

    OpenclawControlUiInsecure = "openclaw-control-ui-insecure", Error, Some(5), Static,
    "OpenClaw Control UI security switched off",
    "`gateway.controlUi.allowInsecureAuth` and the `gateway.controlUi.dangerously*` switches (`dangerouslyDisableDeviceAuth`, `dangerouslyAllowHostHeaderOriginFallback`, ...) turn off device pairing or origin checks of the Control UI. They are the usual \"fix\" for \"pairing required\" or \"origin not allowed\" behind Docker NAT, and let any web page or client that reaches the port act as an operator.",
    "Remove the switch; list the loopback origins of the published port in `gateway.controlUi.allowedOrigins` and approve the browser once (`openclaw devices approve <requestId>`).";

    OpenclawTerminalEnabled = "openclaw-terminal-enabled", Warning, Some(3), Static,
    "OpenClaw operator terminal enabled",
    "`gateway.terminal.enabled` (default: on) gives every admin-scoped operator a PTY on the gateway's host, with the gateway's environment (its token and keys). A stolen operator token becomes a shell.",
    "Set `gateway.terminal: {enabled: false}`.";

    OpenclawElevatedEnabled = "openclaw-elevated-enabled", Error, Some(3), Static,
    "OpenClaw elevated tools enabled",
    "`tools.elevated.enabled` (on unless set to `false`; `openclaw security audit` reports it enabled when unset) lets allowed senders switch an agent into elevated mode, which escapes the sandbox onto the host and can skip approvals: a chat message becomes host command execution. An error when set to `true`; a warning when unset (no sender is allowed until `tools.elevated.allowFrom` lists one).",
    "Set `tools.elevated: {enabled: false}`.";

    OpenclawExecUnrestricted = "openclaw-exec-unrestricted", Warning, Some(3), Static,
    "OpenClaw exec tool unrestricted",
    "With `tools.exec.security: \"full\"` (the default for gateway hosts when neither `security` nor `mode` is set) or `tools.exec.mode: \"full\"`, agents run any command on the gateway's host without an allowlist match; a prompt injection through any channel is command execution.",
    "Set `tools.exec: {security: \"deny\"}` (or `\"allowlist\"` with a reviewed allowlist).";

    RuntimeNoContainers = "runtime-no-containers", Error, None, Runtime,
    "no container of the compose project exists",
    "Runtime verify reads what the engine runs; with no container of the project there is nothing to verify, which must not pass as clean.",
    "Start the stack (`docker compose up -d`) or name its project with `--project NAME`.";

    RuntimeNotRunning = "runtime-not-running", Error, None, Runtime,
    "a container of the project is not running",
    "A created, exited or restarting container is not serving; its hardening cannot be checked from inside.",
    "Read `docker logs <container>` and the engine's error, fix the cause and start it again.";

    RuntimeUnhealthy = "runtime-unhealthy", Error, Some(9), Runtime,
    "the engine does not report the container healthy",
    "A health check that fails means the service does not answer; `starting` is reported as a warning.",
    "Read the healthcheck log (`docker inspect --format '{{json .State.Health}}' <container>`) and fix the service.";

    RuntimeHostListenerPublic = "runtime-host-listener-public", Error, Some(5), Runtime,
    "a published port listens beyond loopback on the host",
    "Whatever compose says, the host's listening sockets (`/proc/net/tcp`, `tcp6`) decide who can connect; a published port on 0.0.0.0 or :: is reachable from the network.",
    "Publish ports as `127.0.0.1:HOST:CONTAINER` and recreate the container.";

    RuntimeSelfcheckFailed = "runtime-selfcheck-failed", Error, None, Runtime,
    "a check of `clawdbot self-check` failed inside the container",
    "`clawdbot self-check --json` reports what the process itself sees (effective capabilities, no_new_privs, seccomp, rootfs and /etc writability, cgroup limits, docker socket, env files); a failed check is hardening that did not take effect. A failed `no-secrets-in-sessions` is reported as `runtime-secret-in-sessions` instead. Failed user, capability, no-new-privileges, seccomp, rootfs, /etc and docker-socket checks are errors, the others warnings; each counts against the checklist item of its check (non-root 1; rootfs-read-only, etc-read-only, no-docker-socket 2; caps-empty 3; no-new-privs, seccomp 4; memory-, cpu-, pids-limit 6; no-env-file 7).",
    "Fix the hardening the check names in the compose file and recreate the container.";

    RuntimeSecretInSessions = "runtime-secret-in-sessions", Error, Some(7), Runtime,
    "the persisted sessions volume holds the gateway token or a provider key",
    "With `sessions_persist` the gateway writes its sessions to a named volume; a volume outlives the container, is copied into backups and read by anyone with access to the engine, so a secret written there escapes `.env`. The self-check `no-secrets-in-sessions`, run inside the container, reads the secrets as the service does (`CLAWDBOT_GATEWAY_TOKEN`, `OPENCLAW_GATEWAY_TOKEN`, `ANTHROPIC_API_KEY`, `OPENAI_API_KEY` or their `_FILE`; placeholders are skipped) and looks for each, as written and JSON-escaped, in every regular file under `CLAWDBOT_SESSIONS_DIR`, and as written or hex-encoded in the file names; symlinks are not followed. The scan is bounded (file count, bytes read, depth; see docs/self-check.md). A file holding a secret is an error naming the file and the variable, never the value; a scan cut short by a bound or an unreadable file or secret is a warning (verify cannot tell). Not reported when sessions are not persisted.",
    "Stop the stack, delete the files named (or the volume: `docker volume rm`), rotate the secrets they held, and find what put them there (a client that sent its token as a message or a session key).";

    RuntimeSelfcheckUnavailable = "runtime-selfcheck-unavailable", Warning, None, Runtime,
    "`clawdbot self-check --json` could not be run in the container",
    "Without the self-check the in-container view is missing; for containers other than the deployment's own service it is only a note. Containers of an OpenClaw image are not self-checked: their in-container view is OpenClaw's own audit (`runtime-openclaw-audit`).",
    "Use an image built by `cargo xtask build` (binary at /usr/local/bin/clawdbot, matching self-check schema).";

    RuntimeOpenclawAudit = "runtime-openclaw-audit", Error, None, Runtime,
    "OpenClaw's own security audit reports a problem",
    "In a running container of an OpenClaw image, runtime verify runs the app's own `openclaw security audit --json` (`node /opt/openclaw/node_modules/openclaw/openclaw.mjs security audit --json`) and reports each `critical` check as an error and each `warn` check as a warning, its message and evidence carrying the audit's check id (`gateway.auth_no_rate_limit`, `fs.config.perms_world_readable`, ...); `info` checks are left out. Output that is not the audit's JSON (the CLI missing, a crash) is one warning. The audit sees what the gateway sees: its resolved config, state directory and file modes.",
    "Follow the remediation `openclaw security audit` prints for the check id (run it in the container: `docker exec <container> node /opt/openclaw/node_modules/openclaw/openclaw.mjs security audit`), fix the config or mounts, and recreate the container.";

    RuntimeHostCheckSkipped = "runtime-host-check-skipped", Note, None, Runtime,
    "host listeners were not checked: the engine runs on another machine",
    "With a remote `DOCKER_HOST` the engine's listening sockets are not visible on this machine.",
    "Run `cargo xtask verify --runtime` on the engine's host to check its listeners.";

    SuppressionInvalid = "suppression-invalid", Warning, None, Static,
    "invalid verify suppression comment",
    "A `# verify: ignore=ID reason` comment needs a known rule id and a reason; otherwise it suppresses nothing and hides intent.",
    "Write `# verify: ignore=<rule-id> <why this is acceptable>` on or just above the offending line.";
}

/// Looks a rule up by its text id (user input: `--explain`, suppressions).
pub fn rule(id: &str) -> Option<&'static Rule> {
    id.parse::<RuleId>().ok().map(RuleId::rule)
}

/// Checklist item number of a `clawdbot self-check` check id (`None` for an unknown
/// check): a failed check (`runtime-selfcheck-failed`) counts against it. The ids and
/// their items live in `clawdbot-facts` (`SelfCheckId`), shared with the service.
pub fn selfcheck_item(check: &str) -> Option<u8> {
    SelfCheckId::from_id(check).map(SelfCheckId::checklist_item)
}

/// The checklist item a finding counts against: its own, else its rule's.
pub fn finding_item(f: &crate::Finding) -> Option<u8> {
    f.checklist.or_else(|| f.rule.rule().checklist)
}

/// Rules that say verify cannot tell (the item is unknown, neither passed nor failed).
pub const UNKNOWN_RULES: &[RuleId] = &[RuleId::UserUnknown, RuleId::HealthcheckUnknown];

/// State of one checklist item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    Pass,
    Fail,
    /// Only [`UNKNOWN_RULES`] findings: verify cannot tell from the files.
    Unknown,
}

impl ItemStatus {
    pub fn name(self) -> &'static str {
        match self {
            ItemStatus::Pass => "pass",
            ItemStatus::Fail => "fail",
            ItemStatus::Unknown => "unknown",
        }
    }
}

/// Status per checklist item for a set of findings (suppressed findings do not count).
pub fn checklist_items(findings: &[crate::Finding]) -> Vec<(&'static ChecklistItem, ItemStatus)> {
    CHECKLIST
        .iter()
        .map(|item| {
            let mut status = ItemStatus::Pass;
            for f in findings
                .iter()
                .filter(|f| f.suppressed.is_none() && finding_item(f) == Some(item.number))
            {
                if UNKNOWN_RULES.contains(&f.rule) {
                    if status == ItemStatus::Pass {
                        status = ItemStatus::Unknown;
                    }
                } else {
                    status = ItemStatus::Fail;
                }
            }
            (item, status)
        })
        .collect()
}

/// Pass (`true`) per checklist item: an unknown item does not pass.
pub fn checklist_status(findings: &[crate::Finding]) -> Vec<(&'static ChecklistItem, bool)> {
    checklist_items(findings)
        .into_iter()
        .map(|(item, s)| (item, s == ItemStatus::Pass))
        .collect()
}

/// First line of `docs/rules.md`.
pub const DOCS_HEADER: &str =
    "<!-- Generated by `cargo xtask verify --write-docs` from crates/verify/src/vocab/catalog.rs; do not edit. -->";

/// Renders `docs/rules.md`.
pub fn render_docs() -> String {
    let mut out = String::new();
    out.push_str(DOCS_HEADER);
    out.push_str("\n\n# `cargo xtask verify` rules\n\n");
    out.push_str("Exit codes: 0 clean, 1 findings at or above `--fail-on` (default `warning`), 2 usage error or unreadable/malformed input.\n\n");
    out.push_str("Suppress one finding with `# verify: ignore=<rule-id> <reason>` on the offending line or the line above it; the reason is required (without it the comment suppresses nothing and is reported as `suppression-invalid`). Suppressed findings stay in JSON and SARIF, marked suppressed, and do not count for the exit code.\n\n");
    out.push_str(concat!(
        "## Usage\n\n",
        "```sh\n",
        "cargo xtask verify                      # Dockerfile, compose.yaml/docker-compose.yml (+ override), .gitignore, .dockerignore, .env.example, git state\n",
        "cargo xtask verify --root DIR --file DIR/Dockerfile.prod --compose-file a.yml --compose-file b.yml\n",
        "cargo xtask verify --format json|sarif|junit|github --output report.sarif\n",
        "cargo xtask verify --fail-on error      # exit 1 only for errors (default: warning)\n",
        "cargo xtask verify --list-rules | --explain ID\n",
        "cargo xtask verify --runtime [--project NAME]   # the running stack (same formats and exit codes)\n",
        "cargo xtask verify --compose-file docker-stack.yml [--swarm]   # a Swarm stack file\n",
        "cargo xtask verify --k8s k8s/          # Kubernetes manifests (default: <root>/k8s when present)\n",
        "```\n\n",
        "Swarm mode is on with `--swarm` or when a verified compose file is named `docker-stack.yml`/`.yaml` (the default selection picks it when the root has no compose file): keys `docker stack deploy` ignores are reported as `swarm-ignored-key` and removed before the other rules run, so a setting Swarm does not apply never counts as satisfied. ",
        "Kubernetes manifests (every `*.yaml`/`*.yml` of the directory, multi-document) are read workload by workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod; the pod's security context is the default for its containers) with the same rule ids; a version tag counts as pinned, as for compose. ",
        "Runtime verify (`--runtime`) reports the rules whose scope includes runtime below, mapped onto the same checklist. ",
        "A checklist item whose only findings are `user-unknown` or `healthcheck-unknown` is unknown (`?` in the summary, `\"status\": \"unknown\"` and `\"pass\": false` in JSON): verify cannot see inside a pulled image, so it never shows such an item as passed.\n\n",
        "Compose files are interpolated from the environment and the project's `.env` (whose values are never printed) and merged in order as `docker compose -f a -f b` does; `include:` (each with its own project directory and `.env`) and `extends:` (same file or another) are resolved, and a finding on an inherited key points into the file that defines it. ",
        "A required variable without a value (`${VAR:?}`) is the note `variable-unset` and the files are verified with it unset. ",
        "Inputs larger than 4 MiB, binary, non-UTF-8 or malformed files, and files compose itself rejects whatever the environment (an `include`/`extends` cycle or missing target), stop verify with one line `error: file:line:col: cause` and exit 2.\n\n",
    ));
    out.push_str("## Checklist\n\n| # | Item | Rules |\n|---|------|-------|\n");
    for item in CHECKLIST {
        let ids: Vec<String> = RULES
            .iter()
            .filter(|r| r.checklist == Some(item.number))
            .map(|r| format!("`{}`", r.id))
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            item.number,
            item.title,
            ids.join(", ")
        ));
    }
    out.push_str("\n## Rules\n\n| Id | Severity | Checklist | Checked by | Title |\n|----|----------|-----------|------------|-------|\n");
    for r in RULES {
        out.push_str(&format!(
            "| [`{}`](#{}) | {} | {} | {} | {} |\n",
            r.id,
            r.id,
            severity_text(r),
            r.checklist
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            r.scope.name(),
            r.title
        ));
    }
    for r in RULES {
        out.push_str(&format!("\n### {}\n\n", r.id));
        out.push_str(&format!(
            "**{}** ({}; checklist {}; {})\n\n",
            r.title,
            severity_text(r),
            r.checklist
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            r.scope.name()
        ));
        out.push_str(&format!("Why: {}\n\n", r.rationale));
        if let Some(d) = details(r) {
            out.push_str(&format!("{d}\n\n"));
        }
        out.push_str(&format!("Fix: {}\n", r.fix));
    }
    out
}

/// `error`, or `note (runtime: error)` when runtime verify reports it otherwise.
pub fn severity_text(r: &Rule) -> String {
    if r.severity == r.runtime_severity || r.scope == Scope::Static {
        severity_name(r.severity).to_string()
    } else if r.scope == Scope::Runtime {
        severity_name(r.runtime_severity).to_string()
    } else {
        format!(
            "{} (runtime: {})",
            severity_name(r.severity),
            severity_name(r.runtime_severity)
        )
    }
}

/// Facts a rule's text refers to that live in code (one place for each fact).
fn details(r: &Rule) -> Option<String> {
    (r.id == RuleId::CapsAdded)
        .then(|| format!("Errors: {}.", crate::vocab::caps::DANGEROUS.join(", ")))
}

pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// `--explain ID` text.
pub fn explain(r: &Rule) -> String {
    let item = r
        .checklist
        .and_then(|n| CHECKLIST.iter().find(|c| c.number == n))
        .map(|c| format!("{} ({})", c.number, c.title))
        .unwrap_or_else(|| "none (hygiene rule)".into());
    let details = details(r).map(|d| format!("\n\n{d}")).unwrap_or_default();
    format!(
        "{} [{}]: {}\nchecklist: {}\nchecked by: {}\n\nwhy: {}{details}\n\nfix: {}\n\nsuppress: # verify: ignore={} <reason>\n",
        r.id,
        severity_text(r),
        r.title,
        item,
        r.scope.name(),
        r.rationale,
        r.fix,
        r.id
    )
}

/// `--list-rules` text.
pub fn list() -> String {
    let mut out = String::new();
    for r in RULES {
        out.push_str(&format!(
            "{:<30} {:<22} {:>2}  {:<16}  {}\n",
            r.id,
            severity_text(r),
            r.checklist
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            r.scope.name(),
            r.title
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_unique_and_checklist_items_valid() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(RULES[i + 1..].iter().all(|o| o.id != r.id), "{}", r.id);
            assert!(r.checklist.is_none_or(|n| (1..=10).contains(&n)));
        }
        for item in CHECKLIST {
            assert!(
                RULES.iter().any(|r| r.checklist == Some(item.number)),
                "{}",
                item.number
            );
        }
    }

    /// Each id is its rule's, parses back from its text, serialises as that text
    /// (kebab-case, as reports have always written it) and sorts as text.
    #[test]
    fn rule_ids_round_trip_as_kebab_case_text() {
        assert_eq!(RuleId::ALL.len(), RULES.len());
        for (i, id) in RuleId::ALL.iter().enumerate() {
            assert_eq!(id.rule().id, *id);
            assert_eq!(RULES[i].id, *id);
            let text = id.as_str();
            assert_eq!(text.parse::<RuleId>(), Ok(*id));
            assert_eq!(rule(text).map(|r| r.id), Some(*id));
            assert_eq!(serde_json::to_string(id).unwrap(), format!("\"{text}\""));
            let kebab: String = format!("{id:?}")
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let dash = (i > 0 && c.is_ascii_uppercase()).then_some('-');
                    dash.into_iter().chain(c.to_lowercase())
                })
                .collect();
            assert_eq!(kebab, text, "variant name and id agree");
        }
        assert_eq!(
            "no-such-rule".parse::<RuleId>(),
            Err(UnknownRuleId("no-such-rule".into()))
        );
        assert!(rule("User-Root").is_none());
        assert!(
            RuleId::AddRemote < RuleId::UserRoot && RuleId::PortNotLoopback < RuleId::Privileged
        );
        assert_eq!(format!("{:<12}|", RuleId::Privileged), "privileged  |");
    }

    /// `docs/rules.md` is generated from the catalog; `UPDATE_DOCS=1` rewrites it.
    #[test]
    fn docs_rules_md_is_fresh() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules.md");
        let want = render_docs();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/rules.md is stale: run `cargo xtask verify --write-docs` (or UPDATE_DOCS=1 cargo test -p clawdbot-verify docs_rules_md)"
        );
    }
}
