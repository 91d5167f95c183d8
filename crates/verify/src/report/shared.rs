//! Findings in a shared definition, reported once. A YAML anchor or a merged mapping
//! (`<<: *app`) gives every service that merges it the same nodes, so a per-service rule
//! finds the same fault at the same place once per service. Those findings (same rule,
//! severity and place; messages that differ only in the service named first) become one
//! finding at that place whose message names the services, each service kept as a
//! related location (its name in the compose file).

use crate::hashing::Map;
use crate::input::project::Project;
use crate::vocab::finding::{Finding, Location, Related};

/// The service a message names first (`service NAME: …`, `service NAME is …`) and the
/// rest of the message, when NAME is one of `names`.
fn split<'m>(
    message: &'m str,
    names: &Map<&str, (&str, usize, usize)>,
) -> Option<(&'m str, &'m str)> {
    let rest = message.strip_prefix("service ")?;
    let end = rest.find([':', ' ']).unwrap_or(rest.len());
    let name = &rest[..end];
    names.contains_key(name).then(|| (name, &rest[end..]))
}

/// The rest of a message after several service names: its leading verb in the plural
/// (`service web is privileged` -> `services web, worker are privileged`).
fn plural(rest: &str) -> String {
    const VERBS: &[(&str, &str)] = &[
        ("is", "are"),
        ("has", "have"),
        ("lists", "list"),
        ("joins", "join"),
        ("runs", "run"),
        ("mounts", "mount"),
        ("publishes", "publish"),
        ("uses", "use"),
        ("adds", "add"),
        ("shares", "share"),
        ("passes", "pass"),
    ];
    let Some(after) = rest.strip_prefix(' ') else {
        return rest.to_string();
    };
    let (verb, tail) = after.split_at(after.find(' ').unwrap_or(after.len()));
    match VERBS.iter().find(|(one, _)| *one == verb) {
        Some((_, many)) => format!(" {many}{tail}"),
        None => rest.to_string(),
    }
}

/// Merges the findings of one shared definition into one (see the module header).
pub fn merge(findings: &mut Vec<Finding>, project: &Project) {
    let Some(compose) = &project.compose else {
        return;
    };
    // Each service's name -> its place (file, line, column), borrowed from the project.
    let names: Map<&str, (&str, usize, usize)> = compose
        .services
        .iter()
        .map(|s| {
            let file = project
                .compose_files
                .get(s.pos.file)
                .map_or("", |&i| project.files[i].display.as_str());
            (s.name.as_str(), (file, s.pos.line, s.pos.column))
        })
        .collect();
    // (rule, severity, place) -> the first kept finding there; the kept findings of one
    // place are chained (`next`), each with its message without the service (`rests`).
    // Borrowed from the findings: most findings are alone at their place, no copies.
    type Place<'f> = (crate::RuleId, crate::Severity, &'f str, usize, usize);
    let n = findings.len();
    let mut first: Map<Place, usize> = Map::with_capacity_and_hasher(n, Default::default());
    let mut next: Vec<Option<usize>> = vec![None; n];
    let mut rests: Vec<&str> = vec![""; n];
    let mut services: Vec<Vec<&str>> = vec![Vec::new(); n];
    let mut dropped = vec![false; n];
    for (i, f) in findings.iter().enumerate() {
        if f.location.line == 0 {
            continue;
        }
        let Some((name, rest)) = split(&f.message, &names) else {
            continue;
        };
        let l = &f.location;
        let place = (f.rule, f.severity, l.file.as_str(), l.line, l.column);
        let mut at = first.get(&place).copied();
        let mut last = None;
        while let Some(k) = at {
            if rests[k] == rest {
                break;
            }
            last = Some(k);
            at = next[k];
        }
        match (at, last) {
            (Some(k), _) => {
                services[k].push(name);
                dropped[i] = true;
            }
            (None, Some(last)) => next[last] = Some(i),
            (None, None) => {
                first.insert(place, i);
            }
        }
        if at.is_none() {
            rests[i] = rest;
            services[i].push(name);
        }
    }
    if !dropped.contains(&true) {
        return;
    }
    // What each kept finding of several services becomes, before the findings change.
    let mut rewritten: Vec<Option<(String, Vec<Related>)>> = Vec::with_capacity(findings.len());
    for (f, services) in findings.iter().zip(&services) {
        if services.len() < 2 {
            rewritten.push(None);
            continue;
        }
        let rest = split(&f.message, &names).map_or("", |(_, r)| r);
        let message = format!("services {}{}", services.join(", "), plural(rest));
        let related = services
            .iter()
            .map(|&service| {
                let (file, line, column) = names[service];
                Related {
                    service: service.to_string(),
                    location: Location {
                        file: file.to_string(),
                        line,
                        column,
                    },
                }
            })
            .collect();
        rewritten.push(Some((message, related)));
    }
    let mut i = 0;
    findings.retain_mut(|f| {
        let keep = !dropped[i];
        if let Some((message, related)) = rewritten[i].take() {
            f.message = message;
            f.related = related;
        }
        i += 1;
        keep
    });
}

#[cfg(test)]
mod tests {
    use crate::input::project::Selection;
    use crate::test_support::TempDir;
    use crate::RuleId;

    /// One unpinned image and one `privileged: true` in an anchor merged by three
    /// services: one finding each, naming the three services; a service's own fault stays
    /// its own.
    #[test]
    fn a_fault_in_an_anchor_is_reported_once_with_its_services() {
        let dir = TempDir::new("shared").unwrap();
        std::fs::write(
            dir.path().join("docker-compose.yml"),
            "x-app: &app\n  image: example/app:latest\n  privileged: true\n  user: \"1000:1000\"\nservices:\n  web:\n    <<: *app\n  worker:\n    <<: *app\n  beat:\n    <<: *app\n    image: example/beat:latest\n",
        )
        .unwrap();
        let sel = Selection::of_root(dir.path().to_path_buf());
        let findings = crate::verify_files(&sel).unwrap();
        let of = |rule| -> Vec<_> { findings.iter().filter(|f| f.rule == rule).collect() };
        let privileged = of(RuleId::Privileged);
        assert_eq!(privileged.len(), 1, "{privileged:#?}");
        assert_eq!(
            privileged[0].message,
            "services web, worker, beat are privileged"
        );
        assert_eq!(privileged[0].location.line, 3);
        let lines: Vec<usize> = privileged[0]
            .related
            .iter()
            .map(|r| r.location.line)
            .collect();
        assert_eq!(lines, [6, 8, 10]);
        let unpinned = of(RuleId::ImageUnpinned);
        assert_eq!(unpinned.len(), 2, "{unpinned:#?}");
        assert!(unpinned
            .iter()
            .any(|f| f.message.starts_with("services web, worker: ")));
        assert!(unpinned
            .iter()
            .any(|f| f.message.starts_with("service beat: ") && f.related.is_empty()));
    }
}
