//! Helpers shared by the GIL examples (`factorize`, `io_latency`, `gil_fight`,
//! `dining_philosophers`, `threads_tour`): the `--quick` flag, running the CPython
//! counterpart with `python3 -c`, re-spawning this binary as a child process, percentiles
//! and a plain text table.
//!
//! Each example includes it with `mod common;`; not every example uses every helper.
#![allow(dead_code)]

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

/// True when the example runs as a CI smoke test (`--quick`): a few seconds in all.
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
}

/// The best (shortest) of `reps` runs of `f`, by the duration `time` reads from each result:
/// on a shared machine the other runs measure the neighbours.
pub fn best_of<T>(reps: usize, mut f: impl FnMut() -> T, time: impl Fn(&T) -> Duration) -> T {
    let mut best = f();
    for _ in 1..reps {
        let next = f();
        if time(&next) < time(&best) {
            best = next;
        }
    }
    best
}

/// The machine, for a table's header: cores and the load average when the run started
/// (the figures are only as quiet as the machine was).
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into());
    format!("{cores} cores, load average {load}")
}

/// CPU time used so far by this process and its waited-for children (Linux
/// `/proc/self/stat`: utime, stime, cutime, cstime, in USER_HZ = 100 ticks a second). Divided
/// by a wall time, it tells how many cores a run kept busy, whatever the machine's load.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime, stime, cutime, cstime are fields 14-17 of the line, 12-15 after the name.
    let ticks: u64 = fields.iter().skip(11).take(4).sum();
    Duration::from_millis(ticks * 10)
}

/// The arguments after `--child`, when this process was re-spawned by [`spawn_self`].
pub fn child_args() -> Option<Vec<String>> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--child")?;
    Some(args[at + 1..].to_vec())
}

/// Re-spawns this example's own binary with `--child args...` (multiprocessing's answer:
/// a fresh process, its own heap, no lock shared with the parent). Stdout is piped.
pub fn spawn_self(args: &[String]) -> std::process::Child {
    let exe = std::env::current_exe().expect("the example's own binary");
    Command::new(exe)
        .arg("--child")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn a child process")
}

/// Runs a CPython script (embedded with `include_str!`) as `python3 -c script args...`
/// and returns its standard output. `python3` is CPython 3.11 on every machine pygc is
/// built on; if it is missing the example says so and the CPython column stays empty (in CI,
/// `PYGC_CI` set, it panics instead).
pub fn python(script: &str, args: &[String]) -> Option<String> {
    let out = python_run(script, args);
    if out.is_none() && std::env::var_os("PYGC_CI").is_some() {
        panic!("the CPython counterpart failed (PYGC_CI is set)");
    }
    out
}

fn python_run(script: &str, args: &[String]) -> Option<String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stderr(Stdio::inherit())
        .output();
    match out {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => {
            eprintln!("python3 failed: {}", out.status);
            None
        }
        Err(e) => {
            eprintln!("python3 not available: {e}");
            None
        }
    }
}

/// Parses the `key value value...` lines the CPython scripts print into a map from the
/// key to its numbers (lines that do not parse are ignored).
pub fn parse_lines(out: &str) -> HashMap<String, Vec<f64>> {
    out.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let key = words.next()?.to_string();
            let values: Option<Vec<f64>> = words.map(|w| w.parse().ok()).collect();
            Some((key, values?))
        })
        .collect()
}

/// The `q`-quantile (0..=1) of a sample, by the nearest-rank method.
pub fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    assert!(!samples.is_empty(), "percentile of no samples");
    samples.sort_unstable();
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

/// A duration in the unit that reads best: µs below a millisecond, ms below a second.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.3} s")
    }
}

/// Seconds (as the CPython scripts report them) formatted like [`fmt_duration`].
pub fn fmt_secs(s: f64) -> String {
    fmt_duration(Duration::from_secs_f64(s.max(0.0)))
}

/// A plain text table: a header row, a rule, then rows, each column as wide as its
/// widest cell.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
    left: bool,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
            left: false,
        }
    }

    /// Aligns every column to the left (for text); by default only the first one is.
    pub fn left_aligned(mut self) -> Table {
        self.left = true;
        self
    }

    /// Appends a row (missing cells print empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Prints the table to standard output.
    pub fn print(&self) {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for (i, row) in self.rows.iter().enumerate() {
            let line: Vec<String> = (0..columns)
                .map(|c| {
                    let cell = row.get(c).map(String::as_str).unwrap_or("");
                    let pad = widths[c] - cell.chars().count();
                    if c == 0 || self.left {
                        format!("{cell}{}", " ".repeat(pad))
                    } else {
                        format!("{}{cell}", " ".repeat(pad))
                    }
                })
                .collect();
            println!("  {}", line.join(" | ").trim_end());
            if i == 0 {
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                println!("  {}", rule.join("-+-"));
            }
        }
    }
}
