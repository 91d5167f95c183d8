//! Rules: plain functions from the project model to findings, registered in one list
//! ([`RULES`]). One module per rule, its spec beside it (inline `catches`/`catches_not`
//! cases in its test module; whole-project cases in `tests/fixtures/<rule-id>/`, run by
//! `tests/rule_specs.rs`). Severity comes from the catalog unless a rule has a
//! documented reason to lower it for one finding.

pub mod apparmor_unconfined;
pub mod caps_added;
pub mod caps_not_dropped;
mod compose_rules;
mod dockerfile_rules;
mod env_in_build_context;
mod file_rules;
pub mod healthcheck_missing;
pub mod healthcheck_unknown;
pub mod image_unpinned;
mod k8s_rules;
pub mod limits_missing;
pub mod logging_unbounded;
pub mod network_host;
pub mod network_not_isolated;
pub mod no_new_privileges;
mod openclaw_rules;
pub mod pids_limit_missing;
pub mod port_not_loopback;
pub mod ports_on_internal_network;
pub mod privileged;
pub mod rootfs_writable;
pub mod seccomp_unconfined;
pub mod secret_in_environment;
pub mod sensitive_volume;
pub mod user_root;
pub mod user_unknown;

use crate::input::project::Project;
use crate::input::yaml::Pos;
use crate::model::posture::{Verdict, Workload};
use crate::vocab::catalog::RuleId;
use crate::{Finding, Location, Severity};

/// Collects findings for one project.
pub struct Out<'a> {
    pub project: &'a Project,
    pub findings: Vec<Finding>,
}

impl Out<'_> {
    /// Adds a finding at a 1-based position in `files[file]` (line 0: the file as a whole).
    pub fn at(&mut self, rule: RuleId, file: usize, line: usize, column: usize, message: String) {
        self.push(rule, rule.rule().severity, file, line, column, message);
    }

    pub fn push(
        &mut self,
        rule: RuleId,
        severity: Severity,
        file: usize,
        line: usize,
        column: usize,
        message: String,
    ) {
        let display = self.project.files[file].display.clone();
        self.push_path(rule, severity, display, line, column, message);
    }

    /// Adds a finding about a path that may not exist (e.g. a missing `.gitignore`).
    pub fn push_path(
        &mut self,
        rule: RuleId,
        severity: Severity,
        file: String,
        line: usize,
        column: usize,
        message: String,
    ) {
        self.findings.push(Finding {
            rule,
            severity,
            message,
            location: Location { file, line, column },
            evidence: None,
            suppressed: None,
            checklist: None,
            related: Vec::new(),
        });
    }

    pub fn path(&mut self, rule: RuleId, file: &str, message: String) {
        self.push_path(rule, rule.rule().severity, file.to_string(), 0, 0, message);
    }

    /// Adds a finding at a compose position (`pos.file` indexes the compose files).
    pub fn yaml(&mut self, rule: RuleId, pos: Pos, message: String) {
        self.yaml_sev(rule, rule.rule().severity, pos, message);
    }

    /// [`Out::yaml`] with a severity other than the catalog's.
    pub fn yaml_sev(&mut self, rule: RuleId, severity: Severity, pos: Pos, message: String) {
        let file = self
            .project
            .compose_files
            .get(pos.file)
            .copied()
            .unwrap_or(0);
        self.push(rule, severity, file, pos.line, pos.column, message);
    }
}

impl Out<'_> {
    /// Adds the finding of a rule written over the posture model, at a static place.
    pub fn verdict(&mut self, v: Verdict) {
        use crate::model::posture::At;
        match v.at {
            At::Compose(pos) => {
                let sev = v.severity.unwrap_or(v.rule.rule().severity);
                self.yaml_sev(v.rule, sev, pos, v.message)
            }
            At::Manifest { file, pos } => {
                let sev = v.severity.unwrap_or(v.rule.rule().severity);
                self.push(v.rule, sev, file, pos.line, pos.column, v.message)
            }
            // Static inputs have no running container; nothing to locate.
            At::Container => debug_assert!(false, "runtime verdict in static verify"),
        }
    }
}

impl Out<'_> {
    pub fn verdict_opt(&mut self, v: Option<Verdict>) {
        if let Some(v) = v {
            self.verdict(v);
        }
    }
}

/// How a registered rule runs.
pub enum Check {
    /// A rule written over the posture model: static verify judges every compose,
    /// Swarm and Kubernetes workload with it, runtime verify every running container.
    /// `pod`: it also judges a Kubernetes pod as a whole
    /// ([`crate::model::posture::Kind::K8sPod`]: host namespaces, `hostPath` volumes).
    Workload {
        judge: fn(&Workload, &mut Vec<Verdict>),
        pod: bool,
    },
    /// A project-level rule group that reads its files directly (Dockerfiles, ignore and
    /// env files, the secret scan, Kubernetes manifests, which it adapts and judges with
    /// the workload rules).
    Project(fn(&mut Out)),
}

/// A workload rule's `judge` (which returns an `Option` or a `Vec` of verdicts).
macro_rules! workload {
    ($rule:ident) => {
        Check::Workload {
            judge: |w, out| out.extend($rule::judge(w)),
            pod: false,
        }
    };
    ($rule:ident, pod) => {
        Check::Workload {
            judge: |w, out| out.extend($rule::judge(w)),
            pod: true,
        }
    };
}

/// The one list of rules, in the order they run. A new rule is a module in this folder
/// (its `judge` beside its spec), a line here, and a row of the catalog.
pub const RULES: &[Check] = &[
    workload!(user_root),
    workload!(privileged),
    workload!(rootfs_writable),
    workload!(caps_not_dropped),
    workload!(no_new_privileges),
    workload!(seccomp_unconfined),
    workload!(apparmor_unconfined),
    workload!(limits_missing),
    workload!(pids_limit_missing),
    workload!(logging_unbounded),
    workload!(user_unknown),
    workload!(network_not_isolated),
    workload!(ports_on_internal_network),
    workload!(healthcheck_missing),
    workload!(healthcheck_unknown),
    workload!(image_unpinned),
    workload!(caps_added),
    workload!(network_host, pod),
    workload!(port_not_loopback),
    workload!(sensitive_volume, pod),
    workload!(secret_in_environment),
    Check::Project(dockerfile_rules::check),
    Check::Project(compose_rules::check),
    Check::Project(file_rules::check),
    Check::Project(env_in_build_context::check),
    Check::Project(k8s_rules::check),
    Check::Project(openclaw_rules::check),
];

/// Every workload rule of [`RULES`] over one workload (static and runtime verify).
pub fn judge_workload(w: &Workload) -> Vec<Verdict> {
    judge(w, false)
}

/// The rules of [`RULES`] over what a Kubernetes pod as a whole shares with its node.
pub fn judge_pod(w: &Workload) -> Vec<Verdict> {
    judge(w, true)
}

fn judge(w: &Workload, pod_only: bool) -> Vec<Verdict> {
    let mut out = Vec::new();
    for check in RULES {
        if let Check::Workload { judge, pod } = check {
            if *pod || !pod_only {
                judge(w, &mut out);
            }
        }
    }
    out
}

/// Runs every rule over the project.
pub fn run(project: &Project) -> Vec<Finding> {
    let mut out = Out {
        project,
        findings: Vec::new(),
    };
    for check in RULES {
        if let Check::Project(check) = check {
            check(&mut out);
        }
    }
    out.findings
}

#[cfg(test)]
pub(crate) mod spec;
