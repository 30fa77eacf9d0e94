//! CPU time per process (identity, orders, payments, the Kafka broker, this load generator) and
//! for the whole machine, from `/proc`.

use std::path::PathBuf;

use zte_e2e::Stack;

/// The processes whose CPU time is attributed, with their pids.
pub(crate) struct Processes {
    pids: Vec<(&'static str, Option<u32>)>,
    pub(crate) ticks_per_second: f64,
}

impl Processes {
    pub(crate) fn of(stack: &Stack) -> Self {
        Self {
            pids: vec![
                ("identity", stack.identity.pid()),
                ("orders", stack.orders.pid()),
                ("payments", stack.payments.pid()),
                ("kafka", kafka_broker_pid()),
                ("bench", Some(std::process::id())),
            ],
            ticks_per_second: clock_ticks_per_second(),
        }
    }

    pub(crate) fn describe(&self) -> String {
        self.pids
            .iter()
            .map(|(name, pid)| match pid {
                Some(pid) => format!("{name}={pid}"),
                None => format!("{name}=?"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// User + system CPU seconds consumed so far by each process (0 when unknown).
    pub(crate) fn cpu_seconds(&self) -> Vec<(&'static str, f64)> {
        self.pids
            .iter()
            .map(|(name, pid)| {
                let ticks = pid.and_then(process_cpu_ticks).unwrap_or(0);
                (*name, ticks as f64 / self.ticks_per_second)
            })
            .collect()
    }
}

/// utime + stime of `pid`, in clock ticks (fields 14 and 15 of `/proc/<pid>/stat`).
fn process_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; the fields after it never do.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so utime (14) is index 11 and stime (15) index 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU seconds the machine has been busy since boot (every CPU; `/proc/stat` line `cpu`:
/// everything but idle and iowait).
pub(crate) fn machine_busy_seconds(ticks_per_second: f64) -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 = fields
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    busy as f64 / ticks_per_second
}

/// The local broker's pid: a process whose command line runs the `kafka.Kafka` main class.
fn kafka_broker_pid() -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(PathBuf::from(format!("/proc/{pid}/cmdline")))
                .is_ok_and(|cmd| cmd.split(|b| *b == 0).any(|arg| arg == b"kafka.Kafka"))
        })
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
