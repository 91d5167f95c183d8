//! Rules: plain functions from the project model to findings. Severity comes from the
//! catalog unless a rule has a documented reason to lower it for one finding.

pub mod apparmor_unconfined;
pub mod caps_added;
pub mod caps_not_dropped;
mod compose_rules;
pub(crate) mod dockerfile_rules;
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

use super::project::Project;
use super::yaml::Pos;
use super::{Finding, Location, Severity};
use crate::catalog::RuleId;

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
        });
    }

    pub fn path(&mut self, rule: RuleId, file: &str, message: String) {
        self.push_path(rule, rule.rule().severity, file.to_string(), 0, 0, message);
    }

    /// Adds a finding at a compose position (`pos.file` indexes the compose files).
    pub fn yaml(&mut self, rule: RuleId, pos: Pos, message: String) {
        let file = self
            .project
            .compose_files
            .get(pos.file)
            .copied()
            .unwrap_or(0);
        self.at(rule, file, pos.line, pos.column, message);
    }

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
    pub fn verdict(&mut self, v: crate::posture::Verdict) {
        use crate::posture::At;
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
    pub fn verdict_opt(&mut self, v: Option<crate::posture::Verdict>) {
        if let Some(v) = v {
            self.verdict(v);
        }
    }
}

/// Every rule written over the posture model, in one list for static and runtime verify.
pub fn judge_workload(w: &crate::posture::Workload) -> Vec<crate::posture::Verdict> {
    let mut out: Vec<_> = [
        user_root::judge(w),
        privileged::judge(w),
        rootfs_writable::judge(w),
        caps_not_dropped::judge(w),
        no_new_privileges::judge(w),
        seccomp_unconfined::judge(w),
        apparmor_unconfined::judge(w),
        limits_missing::judge(w),
        pids_limit_missing::judge(w),
        logging_unbounded::judge(w),
        user_unknown::judge(w),
        network_not_isolated::judge(w),
        ports_on_internal_network::judge(w),
        healthcheck_missing::judge(w),
        healthcheck_unknown::judge(w),
        image_unpinned::judge(w),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.extend(caps_added::judge(w));
    out.extend(network_host::judge(w));
    out.extend(port_not_loopback::judge(w));
    out.extend(sensitive_volume::judge(w));
    out.extend(secret_in_environment::judge(w));
    out
}

/// The rules over what a Kubernetes pod as a whole shares with its node
/// ([`crate::posture::Kind::K8sPod`]): host namespaces and `hostPath` volumes.
pub fn judge_pod(w: &crate::posture::Workload) -> Vec<crate::posture::Verdict> {
    let mut out = network_host::judge(w);
    out.extend(sensitive_volume::judge(w));
    out
}

/// Runs every rule over the project.
pub fn run(project: &Project) -> Vec<Finding> {
    let mut out = Out {
        project,
        findings: Vec::new(),
    };
    dockerfile_rules::check(&mut out);
    compose_rules::check(&mut out);
    file_rules::check(&mut out);
    k8s_rules::check(&mut out);
    out.findings
}
