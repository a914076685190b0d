//! The dining philosophers of `examples/dining_philosophers.rs`: the fair table feeds every
//! philosopher at least k times within a bound and never blocks anyone, even when they are
//! greedy; the notebook's table as written blocks philosophers forever.

#[path = "../examples/common/philosophers.rs"]
mod philosophers;

use std::time::Duration;

use philosophers::{Stop, Timing, fair_table, seed_table};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn fair_table_feeds_everyone_k_times_within_a_bound() {
    let k = 10;
    let bound = Duration::from_secs(20);
    let timing = Timing {
        think: (ms(1), ms(3)),
        eat: (ms(2), ms(5)),
    };
    let outcome = fair_table(
        timing,
        Stop {
            after: bound,
            each_ate: Some(k),
        },
        false,
    );
    assert!(
        outcome.eats.iter().all(|&e| e >= k),
        "starved: {:?}",
        outcome.eats
    );
    assert!(outcome.elapsed < bound, "not fed within {bound:?}");
    assert!(
        outcome.blocked.iter().all(|b| !b),
        "blocked: {:?}",
        outcome.blocked
    );
}

#[test]
fn fair_table_is_fair_to_greedy_philosophers() {
    // Nobody thinks: all five are hungry all the time. First-come first-served among
    // neighbours keeps the meals within a small spread.
    let timing = Timing {
        think: (Duration::ZERO, Duration::ZERO),
        eat: (ms(1), ms(2)),
    };
    let outcome = fair_table(
        timing,
        Stop {
            after: ms(600),
            each_ate: None,
        },
        false,
    );
    let min = *outcome.eats.iter().min().unwrap();
    let max = *outcome.eats.iter().max().unwrap();
    assert!(min >= 20, "meals {:?}", outcome.eats);
    assert!(max - min <= max / 4 + 2, "unfair: {:?}", outcome.eats);
    assert!(outcome.blocked.iter().all(|b| !b));
    // The log pairs every start with a stop.
    let starts = outcome
        .log
        .iter()
        .filter(|l| l.ends_with("start eating"))
        .count() as u64;
    assert_eq!(starts, outcome.eats.iter().sum::<u64>());
}

#[test]
fn notebook_table_as_written_blocks_philosophers_forever() {
    // Long enough that every philosopher gets hungry at least twice.
    let timing = Timing {
        think: (ms(5), ms(10)),
        eat: (ms(10), ms(20)),
    };
    let outcome = seed_table(
        timing,
        Stop {
            after: ms(300),
            each_ate: None,
        },
        false,
        false,
    );
    // The right fork is never put back: nobody eats twice, somebody is blocked for good.
    assert!(
        outcome.eats.iter().all(|&e| e <= 1),
        "meals {:?}",
        outcome.eats
    );
    assert!(outcome.eats.contains(&1));
    assert!(
        outcome.blocked.iter().any(|&b| b),
        "nobody blocked: {outcome:?}"
    );
}
