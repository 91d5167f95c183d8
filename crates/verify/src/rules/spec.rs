//! The rules' inline specs (hadolint's `ruleCatches` / `ruleCatchesNot`): a small
//! project written to a temporary directory and verified whole, as the front ends do.
//! The base is the hardened contract shape (zero findings, `tests/fixtures/contract/`);
//! a case edits its compose file or its Dockerfile to bring in one fault or one near
//! miss. Cases that need ignore files, git state or several files are fixture
//! directories (`tests/fixtures/<rule-id>/`, run by `tests/rule_specs.rs`).

use crate::input::project::Selection;
use crate::test_support::TempDir;
use crate::RuleId;

pub const DOCKERFILE: &str = r#"# syntax=docker/dockerfile:1
# Hardened image: static binary on scratch, non-root.
FROM scratch
COPY target/docker-context/passwd /etc/passwd
COPY target/docker-context/group /etc/group
COPY --chown=1000:1000 target/docker-context/clawdbot /usr/local/bin/clawdbot
USER 1000:1000
EXPOSE 18789 8080
ENTRYPOINT ["/usr/local/bin/clawdbot"]
CMD ["serve", "--bind", "0.0.0.0", "--port", "18789", "--health-port", "8080"]
HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD ["/usr/local/bin/clawdbot", "healthcheck", "--port", "8080"]
"#;

pub const COMPOSE: &str = r#"# Hardened deployment (shape of `cargo xtask init` output).
services:
  clawdbot:
    image: clawdbot:0.1.0
    build: .
    env_file: .env
    user: "1000:1000"
    read_only: true
    tmpfs:
      - /tmp:size=16m,mode=1777
    cap_drop:
      - ALL
    security_opt:
      - no-new-privileges:true
    ports:
      - "127.0.0.1:18789:18789"
      - "127.0.0.1:8080:8080"
    cpus: "2.0"
    mem_limit: 2G
    pids_limit: 256
    healthcheck:
      test: ["CMD", "/usr/local/bin/clawdbot", "healthcheck", "--port", "8080"]
      interval: 5s
      timeout: 3s
      retries: 3
      start_period: 5s
    logging:
      driver: json-file
      options:
        max-size: "10m"
        max-file: "3"
    networks:
      - clawdbot-net
    restart: unless-stopped
    stop_grace_period: 10s

networks:
  clawdbot-net:
    driver: bridge
"#;

const DOCKERIGNORE: &str = r#"# Allowlist: only the staged binary and passwd/group.
*
!target/docker-context/
"#;
const GITIGNORE: &str = r#"/target
.env
"#;
const ENV: &str = r#"ANTHROPIC_API_KEY=sk-ant-demo-placeholder
CLAWDBOT_GATEWAY_TOKEN=change-me-to-a-long-random-token
"#;
const ENV_EXAMPLE: &str = r#"ANTHROPIC_API_KEY=sk-ant-demo-placeholder
OPENAI_API_KEY=sk-demo-placeholder
CLAWDBOT_GATEWAY_TOKEN=change-me-to-a-long-random-token
"#;

/// A project: the hardened base with `edits` (`(file, find, replace)`; `find` must occur
/// in that file, so a stale case fails instead of testing nothing).
pub struct Case {
    files: Vec<(&'static str, String)>,
}

/// The hardened base project.
pub fn hardened() -> Case {
    Case {
        files: vec![
            ("Dockerfile", DOCKERFILE.to_string()),
            ("docker-compose.yml", COMPOSE.to_string()),
            (".dockerignore", DOCKERIGNORE.to_string()),
            (".gitignore", GITIGNORE.to_string()),
            (".env", ENV.to_string()),
            (".env.example", ENV_EXAMPLE.to_string()),
        ],
    }
}

/// The hardened base with one edit of the compose file.
pub fn compose(find: &str, replace: &str) -> Case {
    hardened().edit("docker-compose.yml", find, replace)
}

/// The hardened base with one edit of the Dockerfile.
pub fn dockerfile(find: &str, replace: &str) -> Case {
    hardened().edit("Dockerfile", find, replace)
}

impl Case {
    /// Adds (or replaces) a file.
    pub fn with(mut self, file: &'static str, text: &str) -> Case {
        self.files.retain(|(name, _)| *name != file);
        self.files.push((file, text.to_string()));
        self
    }

    pub fn edit(mut self, file: &str, find: &str, replace: &str) -> Case {
        let Some((_, text)) = self.files.iter_mut().find(|(name, _)| *name == file) else {
            panic!("the base project has no {file}");
        };
        assert!(text.contains(find), "{file} has no {find:?}:\n{text}");
        *text = text.replacen(find, replace, 1);
        self
    }

    /// Removes a file of the base.
    pub fn without(mut self, file: &str) -> Case {
        let before = self.files.len();
        self.files.retain(|(name, _)| *name != file);
        assert!(self.files.len() < before, "the base project has no {file}");
        self
    }

    /// Every unsuppressed finding.
    pub fn findings(&self) -> Vec<crate::Finding> {
        let dir = TempDir::new("spec").expect("temp dir");
        for (name, text) in &self.files {
            let path = dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("create spec dir");
            }
            std::fs::write(path, text).expect("write spec file");
        }
        let sel = Selection::of_root(dir.path().to_path_buf());
        let findings = crate::verify_files(&sel).unwrap_or_else(|e| panic!("input error: {e}"));
        findings
            .into_iter()
            .filter(|f| f.suppressed.is_none())
            .collect()
    }

    /// The rules of every unsuppressed finding.
    pub fn rules(&self) -> Vec<RuleId> {
        self.findings().iter().map(|f| f.rule).collect()
    }
}

/// `rule` fires on `case`.
pub fn catches(rule: RuleId, case: Case) {
    let got = case.rules();
    assert!(got.contains(&rule), "{rule} did not fire; got {got:?}");
}

/// `rule` does not fire on `case`.
pub fn catches_not(rule: RuleId, case: Case) {
    let got = case.rules();
    assert!(!got.contains(&rule), "{rule} fired; got {got:?}");
}

#[test]
fn the_hardened_base_has_no_finding() {
    assert_eq!(hardened().rules(), Vec::<RuleId>::new());
}
