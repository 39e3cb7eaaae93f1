//! Which process holds a job's lease: its process id, its host and, where the OS tells, the
//! process's start time (so that a reused process id is not taken for the holder).

use std::sync::OnceLock;

/// A process that can hold job leases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// The OS's start time of the process (Linux: field 22 of `/proc/<pid>/stat`); `None` elsewhere.
    pub pid_start: Option<String>,
}

/// This process.
pub fn this_process() -> &'static Holder {
    static THIS: OnceLock<Holder> = OnceLock::new();
    THIS.get_or_init(|| {
        let pid = std::process::id();
        Holder { pid, host: host_name(), pid_start: process_start(pid) }
    })
}

/// The machine's host name, as other processes on it see it.
pub fn host_name() -> String {
    let from_file = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// The start time of process `pid` (Linux), used with the pid to recognise the same process.
pub fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    // Fields after the name start at field 3; the start time is field 22.
    after.split_whitespace().nth(19).map(str::to_owned)
}

/// True only when this machine can tell that the process `pid` that started at `pid_start` has
/// ended (Linux). Elsewhere, or when unsure, false: the lease then expires by its heartbeat.
pub fn is_gone(pid: u32, pid_start: Option<&str>) -> bool {
    if !std::path::Path::new("/proc/self/stat").exists() {
        return false;
    }
    match process_start(pid) {
        None => true,
        Some(now) => pid_start.is_some_and(|then| then != now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_child_is_gone() {
        let me = this_process();
        assert!(!is_gone(me.pid, me.pid_start.as_deref()), "this process is running");
        if me.pid_start.is_none() {
            return; // not Linux: liveness is decided by the heartbeat alone
        }
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(is_gone(pid, None), "a reaped child's pid names no process");
        assert!(is_gone(me.pid, Some("1")), "a different start time means another process");
    }
}
