//! The seed notebook's exercise (001_3f8830b7e484a3ac, "Задание 1"): five philosophers, a
//! fork between each pair; the notebook's answer takes the left fork, then checks the right.
//!
//! 1. The notebook's dinner exactly as written, times scaled by 1/100 (think 50-100 ms, eat
//!    100-200 ms, call it off after 0.5 s), next to the notebook's own Python code run by
//!    CPython with the same scale: it never puts the right fork back, so nobody eats twice
//!    and the philosophers next to an eater block forever.
//! 2. The notebook's intent (the right fork put back too) against a table that can neither
//!    deadlock nor starve anyone (a first-come first-served waiter, forks taken in a global
//!    order): meals per philosopher, with the notebook's times and with greedy philosophers
//!    who never think.
//! 3. The check: at the fair table every philosopher eats at least k times within a bound.
//!
//! `cargo run --release --example dining_philosophers [-- --quick]`

mod common;
#[path = "common/philosophers.rs"]
mod philosophers;

use std::time::{Duration, Instant};

use common::{Table, python, quick};
use philosophers::{NAMES, Outcome, Stop, Timing, fair_table, seed_table};

fn main() {
    let quick = quick();
    as_written();
    intent_against_fair(quick);
    check(quick);
}

fn as_written() {
    println!("=== 1. The notebook's dinner as written (times x 1/100: stop after 0.5 s) ===\n");
    let stop = Stop {
        after: Duration::from_millis(500),
        each_ate: None,
    };
    let rust = seed_table(Timing::seed(0.01), stop, false, false);
    let cpython = python(
        include_str!("python/dining_philosophers.py"),
        &["0.01".into(), "0.5".into()],
    );
    let cpython = cpython.unwrap_or_default();
    let py_log: Vec<&str> = cpython
        .lines()
        .filter(|l| !l.starts_with("eats ") && !l.starts_with("blocked "))
        .collect();
    let mut log = Table::new(&[
        "pygc example (Rust threads)",
        "CPython 3.11 (the notebook's code)",
    ])
    .left_aligned();
    for i in 0..rust.log.len().max(py_log.len()) {
        log.row(vec![
            rust.log.get(i).cloned().unwrap_or_default(),
            py_log.get(i).map(|s| s.to_string()).unwrap_or_default(),
        ]);
    }
    log.print();
    let py = parse_named(&cpython);
    println!();
    let mut table = Table::new(&[
        "philosopher",
        "Rust: meals",
        "blocked forever",
        "CPython: meals",
        "blocked forever",
    ]);
    for (seat, name) in NAMES.iter().enumerate() {
        let (meals, blocked) = py
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, m, b)| (m.to_string(), yes_no(*b)))
            .unwrap_or_default();
        table.row(vec![
            name.to_string(),
            rust.eats[seat].to_string(),
            yes_no(rust.blocked[seat]),
            meals,
            blocked,
        ]);
    }
    table.print();
    println!(
        "\n  The notebook puts only the left fork back. A philosopher who has eaten keeps his \
         right fork:\n  his right-hand neighbour blocks forever in left_fork.acquire() \
         (deadlock), and he himself\n  finds his own fork taken and spins until the dinner \
         is called off. Nobody eats twice\n  (the notebook's output: Mark, Niche and Kant eat \
         once; Sokrat and Aristotel never do)."
    );
}

/// The `eats NAME COUNT` and `blocked NAME 0|1` lines of the CPython script.
fn parse_named(out: &str) -> Vec<(String, u64, bool)> {
    let mut found: Vec<(String, u64, bool)> = Vec::new();
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["eats", name, n] => found.push((name.to_string(), n.parse().unwrap_or(0), false)),
            ["blocked", name, b] => {
                if let Some(entry) = found.iter_mut().find(|(n, _, _)| n == name) {
                    entry.2 = *b == "1";
                }
            }
            _ => {}
        }
    }
    found
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn summary(o: &Outcome) -> String {
    let min = o.eats.iter().min().copied().unwrap_or(0);
    let max = o.eats.iter().max().copied().unwrap_or(0);
    let blocked = o.blocked.iter().filter(|&&b| b).count();
    format!("min {min}, max {max}, blocked {blocked}")
}

fn intent_against_fair(quick: bool) {
    let run = Duration::from_secs_f64(if quick { 0.5 } else { 5.0 });
    println!(
        "\n=== 2. The notebook's intent (both forks put back) against a fair table, {} s each ===\n",
        run.as_secs_f64()
    );
    let stop = Stop {
        after: run,
        each_ate: None,
    };
    let seed_times = Timing::seed(0.01);
    // Philosophers who never think: every one of them is always hungry.
    let greedy = Timing {
        think: (Duration::ZERO, Duration::ZERO),
        eat: (Duration::from_millis(1), Duration::from_millis(2)),
    };
    let outcomes = [
        seed_table(seed_times, stop, true, false),
        fair_table(seed_times, stop, false),
        seed_table(greedy, stop, true, false),
        fair_table(greedy, stop, false),
    ];
    let mut table = Table::new(&[
        "meals",
        "intent, notebook times",
        "fair, notebook times",
        "intent, greedy",
        "fair, greedy",
    ]);
    for (seat, name) in NAMES.iter().enumerate() {
        let mut row = vec![name.to_string()];
        row.extend(outcomes.iter().map(|o| o.eats[seat].to_string()));
        table.row(row);
    }
    let mut row = vec!["summary".to_string()];
    row.extend(outcomes.iter().map(summary));
    table.row(row);
    table.print();
    println!(
        "\n  (notebook times: think 50-100 ms, eat 100-200 ms; greedy: think 0, eat 1-2 ms. The \
         intent's\n  check-then-act on locked() lets a neighbour slip in between, and nothing \
         orders the hungry;\n  the waiter serves neighbours first-come first-served.)"
    );
}

fn check(quick: bool) {
    let k = if quick { 5 } else { 20 };
    let bound = Duration::from_secs(if quick { 10 } else { 30 });
    println!(
        "\n=== 3. Check: at the fair table each philosopher eats at least {k} times within {} s ===\n",
        bound.as_secs()
    );
    let timing = Timing {
        think: (Duration::from_millis(5), Duration::from_millis(10)),
        eat: (Duration::from_millis(10), Duration::from_millis(20)),
    };
    let start = Instant::now();
    let outcome = fair_table(
        timing,
        Stop {
            after: bound,
            each_ate: Some(k),
        },
        false,
    );
    println!(
        "  meals {:?} after {:.2} s (think 5-10 ms, eat 10-20 ms); nobody blocked: {}",
        outcome.eats,
        start.elapsed().as_secs_f64(),
        outcome.blocked.iter().all(|b| !b)
    );
    assert!(
        outcome.eats.iter().all(|&e| e >= k),
        "a philosopher starved: {:?}",
        outcome.eats
    );
    assert!(
        outcome.blocked.iter().all(|b| !b),
        "a philosopher is blocked"
    );
    assert!(outcome.elapsed < bound, "not fed within the bound");
    println!("  ok");
}
