//! The machine a run was measured on.

use crate::tasks::Command;

pub struct Machine {
    pub date: String,
    pub uname: String,
    pub cpu: String,
    pub cores: usize,
    pub memory: String,
    pub load: String,
}

fn first_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

impl Machine {
    pub fn detect() -> Machine {
        let out = |program: &str, args: &[&str]| -> String {
            Command::program(program, args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_string())
                .unwrap_or_default()
        };
        let date = Command::program("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"])
            .read()
            .unwrap_or_default();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb: f64 = first_value(&meminfo, "MemTotal")
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0.0);
        Machine {
            date,
            uname: out("uname", &["-a"]),
            cpu: first_value(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            memory: format!("{:.1} GiB (MemTotal)", mem_kb / 1024.0 / 1024.0),
            load: std::fs::read_to_string("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        }
    }
}
