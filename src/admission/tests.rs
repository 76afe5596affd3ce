//! The controller's state machine on made-up rounds, and the limiter's bounds.

use std::time::Duration;

use super::control::{Controller, Sample, Why, DECREASE, RISE, SLOW_START_DECREASE};
use super::*;
use crate::http::{Failure, Fatal, FatalKind, HealthSign};

/// A round in which the limit held files back: `answers` in 100 ms, 4 KiB each.
fn round(answers: u64) -> Sample {
    Sample {
        answers,
        bytes: answers * 4096,
        elapsed: Duration::from_millis(100),
        binding: true,
    }
}

/// One round on a latency-bound link: every file in flight answers once, while more wait
/// for room; the round measures as many answers as files were in flight, up to `knee`.
fn round_trip(c: &mut Controller, knee: usize) -> Option<super::Change> {
    let files = c.limit();
    for _ in 0..files {
        c.on_answer(true);
    }
    c.on_round(round(files.min(knee) as u64))
}

#[test]
fn slow_start_doubles_while_throughput_rises() {
    let mut c = Controller::new(16, 256);
    let mut limits = vec![c.limit()];
    for _ in 0..3 {
        let change = round_trip(&mut c, 1000).unwrap();
        assert_eq!(change.why, Why::Rising);
        limits.push(c.limit());
    }
    assert_eq!(limits, [16, 32, 64, 128]);
}

#[test]
fn slow_start_at_most_doubles_a_round_however_many_answers_come() {
    let mut c = Controller::new(16, 512);
    for _ in 0..1000 {
        c.on_answer(true);
    }
    assert_eq!(c.limit(), 32);
    c.on_round(round(1000));
    for _ in 0..1000 {
        c.on_answer(true);
    }
    assert_eq!(c.limit(), 64);
}

#[test]
fn slow_start_stops_where_throughput_stops_rising() {
    let mut c = Controller::new(16, 256);
    // 16, 32, 64 rise; 128 gives no more than 64 did.
    while c.in_slow_start() {
        round_trip(&mut c, 64);
    }
    assert_eq!(c.limit(), 64, "settles where the gain ran out");

    // A knee between two doublings: 64 -> 128 gave 10% more, which is not a rise, and
    // the limit settles 10% above 64.
    let mut c = Controller::new(16, 256);
    while c.in_slow_start() {
        round_trip(&mut c, 70);
    }
    assert_eq!(c.limit(), 70);
}

#[test]
fn a_round_in_which_the_limit_grew_little_is_no_plateau() {
    let mut c = Controller::new(16, 512);
    round_trip(&mut c, 1000);
    assert_eq!(c.limit(), 32);
    // Few files waited for room this round (the walk was behind): the limit grew by 4,
    // not by 32, though throughput had doubled.
    for i in 0..32 {
        c.on_answer(i < 4);
    }
    assert_eq!(c.on_round(round(32)).unwrap().why, Why::Rising);
    assert_eq!(c.limit(), 36);
    // The next round's throughput rose with the limit, by an eighth: that is no plateau.
    let change = round_trip(&mut c, 1000).unwrap();
    assert_eq!(change.why, Why::Rising);
    assert!(c.in_slow_start());
    assert_eq!(c.limit(), 72);
    // Judged against the round at 32, this one's throughput rose 2.25-fold: it goes on.
    assert_eq!(round_trip(&mut c, 1000).unwrap().why, Why::Rising);
    assert_eq!(c.limit(), 144);
    // And a plateau is still found, against the last round judged (72): 80 files in
    // flight were as fast as 144, and then as fast as 288.
    assert_eq!(round_trip(&mut c, 80).unwrap().why, Why::Rising);
    assert_eq!(round_trip(&mut c, 80).unwrap().why, Why::Plateau);
    assert_eq!(c.limit(), 80);
}

#[test]
fn two_rounds_short_of_the_rise_in_a_row_are_a_plateau() {
    let mut c = Controller::new(8, 256);
    for _ in 0..8 {
        c.on_answer(true);
    }
    c.on_round(round(100));
    assert_eq!(c.limit(), 16);
    let just_below = ((1.0 + RISE) * 100.0) as u64 - 1;
    // One round short of the rise may have caught a burst of answers fewer than it
    // should: slow start goes on.
    for _ in 0..16 {
        c.on_answer(true);
    }
    assert_eq!(c.on_round(round(just_below)).unwrap().why, Why::Rising);
    assert!(c.in_slow_start());
    assert_eq!(c.limit(), 32);
    // A second one, judged against the same round at 8: a plateau.
    let change = c.on_round(round(just_below)).unwrap();
    assert_eq!(change.why, Why::Plateau);
    assert!(!c.in_slow_start());
    assert!(
        (8..=16).contains(&c.limit()),
        "between the last two levels judged: {}",
        c.limit()
    );

    // A short round followed by one that rises is no plateau, and the doubt is gone: the
    // round in doubt held the limit, the next doubles it again.
    let mut c = Controller::new(8, 1024);
    round_trip(&mut c, 1000);
    round_trip(&mut c, 8);
    assert!(c.in_slow_start());
    assert_eq!(c.limit(), 32);
    assert_eq!(round_trip(&mut c, 1000), None);
    assert_eq!(c.limit(), 32);
    assert!(c.in_slow_start());
    assert_eq!(round_trip(&mut c, 1000).unwrap().why, Why::Rising);
    assert_eq!(c.limit(), 64);
    assert_eq!(round_trip(&mut c, 32).unwrap().why, Why::Rising);
    assert!(
        c.in_slow_start(),
        "one short round after a rise is not yet a plateau"
    );
    assert_eq!(round_trip(&mut c, 32).unwrap().why, Why::Plateau);
}

#[test]
fn a_round_in_doubt_holds_the_limit() {
    // A server short of CPU (benchmark row P1: s3s-fs on the same 2 cores) gains nothing
    // past 32 files in flight, and queues every file beyond: slow start must not put 8
    // times that many in flight before it sees the plateau.
    let mut c = Controller::new(16, 512);
    let mut most = c.limit();
    while c.in_slow_start() {
        round_trip(&mut c, 32);
        most = most.max(c.limit());
    }
    assert_eq!(c.limit(), 32, "settles at the knee");
    assert_eq!(most, 128, "4 times the knee at most (it was 8 times: 256)");

    // While a round is in doubt, answers add nothing to the limit, however many come.
    let mut c = Controller::new(16, 512);
    round_trip(&mut c, 1000);
    round_trip(&mut c, 16);
    assert!(c.in_slow_start());
    let held = c.limit();
    for _ in 0..1000 {
        c.on_answer(true);
    }
    assert_eq!(c.limit(), held);
}

#[test]
fn rounds_the_limit_did_not_bind_change_nothing() {
    let mut c = Controller::new(16, 256);
    let idle = Sample {
        binding: false,
        ..round(16)
    };
    for _ in 0..10 {
        for _ in 0..16 {
            c.on_answer(false);
        }
        assert_eq!(c.on_round(idle), None);
    }
    assert_eq!(c.limit(), 16);
    assert!(c.in_slow_start());
}

#[test]
fn slow_start_respects_the_cap() {
    let mut c = Controller::new(16, 40);
    round_trip(&mut c, 1000);
    assert_eq!(c.limit(), 32);
    round_trip(&mut c, 1000);
    assert_eq!(c.limit(), 40, "doubling stops at the cap");
    for _ in 0..20 {
        round_trip(&mut c, 1000);
        assert!(c.limit() <= 40);
    }
    assert_eq!(Controller::new(16, 4).limit(), 4, "starts within the cap");
}

#[test]
fn probing_keeps_a_step_that_pays_and_gives_back_one_that_does_not() {
    // Settle at 64 on a link whose knee is 64.
    let mut c = Controller::new(16, 256);
    while c.in_slow_start() {
        round_trip(&mut c, 64);
    }
    assert_eq!(c.limit(), 64);
    // The knee moves up to 100: probes of an eighth climb, one a round or two.
    let mut probes = 0;
    for _ in 0..20 {
        if let Some(change) = round_trip(&mut c, 100) {
            if change.why == Why::Probe {
                assert_eq!(change.to - change.from, (change.from / 8).max(1));
                probes += 1;
            }
        }
    }
    assert!(probes >= 3, "{probes} probes");
    // Above the knee a probe pays nothing and is given back...
    let mut given_back = Vec::new();
    let mut round_no = 0;
    for _ in 0..80 {
        round_no += 1;
        if let Some(change) = round_trip(&mut c, 100) {
            if change.why == Why::NoGain {
                assert!(change.to < change.from);
                given_back.push(round_no);
            }
        }
        assert!(c.limit() <= 120, "{}", c.limit());
    }
    // ...and the next probe waits longer each time.
    assert!(given_back.len() >= 3, "{given_back:?}");
    let gaps: Vec<i32> = given_back.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
}

#[test]
fn pushback_cuts_the_limit_once_a_round() {
    let mut c = Controller::new(16, 256);
    round_trip(&mut c, 1000);
    round_trip(&mut c, 1000);
    assert_eq!(c.limit(), 64);
    let change = c.on_pushback().unwrap();
    assert_eq!(change.why, Why::Pushback);
    assert_eq!(
        c.limit(),
        (64.0 * SLOW_START_DECREASE) as usize,
        "in slow start the limit doubled while the news came back"
    );
    assert!(!c.in_slow_start(), "pushback ends slow start");
    // More 429s to requests sent before the cut are no news.
    assert_eq!(c.on_pushback(), None);
    assert_eq!(c.on_timeout(), None);
    assert_eq!(c.limit(), 32);
    // A round later, pushback cuts again; and a timeout does too.
    round_trip(&mut c, 1000);
    assert_eq!(c.on_pushback().unwrap().to, (32.0 * DECREASE) as usize);
    round_trip(&mut c, 1000);
    let change = c.on_timeout().unwrap();
    assert_eq!((change.why, change.to), (Why::Timeout, 15));
    // Never below one.
    let mut c = Controller::new(1, 256);
    assert_eq!(c.on_pushback(), None);
    assert_eq!(c.limit(), 1);
}

#[test]
fn after_a_cut_probing_climbs_back_gently() {
    let mut c = Controller::new(16, 256);
    round_trip(&mut c, 1000);
    round_trip(&mut c, 1000);
    c.on_pushback();
    let cut = c.limit();
    let mut last = cut;
    for _ in 0..20 {
        round_trip(&mut c, 1000);
        assert!(c.limit() <= last + last / 8 + 1, "one step at a time");
        last = c.limit();
    }
    assert!(c.limit() > cut, "it probes up again: {}", c.limit());
    assert!(!c.in_slow_start(), "no second slow start");
}

#[test]
fn nothing_changes_during_an_outage() {
    let mut c = Controller::new(16, 256);
    round_trip(&mut c, 1000);
    assert_eq!(c.limit(), 32);
    c.hold(true);
    assert!(c.held());
    assert_eq!(c.on_pushback(), None);
    assert_eq!(c.on_timeout(), None);
    for answers in [0, 1, 500] {
        c.on_answer(true);
        assert_eq!(c.on_round(round(answers)), None);
    }
    assert_eq!(c.limit(), 32, "resumes at the speed it had");
    c.hold(false);
    assert!(c.in_slow_start());
    assert_eq!(round_trip(&mut c, 1000).unwrap().to, 64);
}

fn reporter() -> (Reporter, crate::event::Inbox) {
    Reporter::channel()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Whether another file of `size` bytes is admitted now.
fn admits(l: &Arc<Limiter>, size: u64) -> Option<Permit> {
    runtime().block_on(async {
        tokio::time::timeout(Duration::from_millis(20), l.acquire(size))
            .await
            .ok()
    })
}

#[test]
fn a_fixed_limit_admits_exactly_that_many_files() {
    let (r, _events) = reporter();
    let l = Limiter::new(Jobs::Fixed(3), r);
    let held: Vec<Permit> = (0..3).map(|_| admits(&l, 1 << 30).unwrap()).collect();
    assert!(admits(&l, 1).is_none());
    drop(held);
    assert!(admits(&l, 1).is_some());
    for _ in 0..100 {
        l.answered(Role::Api, Instant::now());
        l.ended(pushback().request_end(), Role::Api, Instant::now());
    }
    assert_eq!(l.limit(), 3, "a fixed limit never moves");
    assert_eq!(l.max(), 3);
}

#[test]
fn auto_holds_back_big_files_beyond_the_bytes_in_flight_but_not_small_ones() {
    let (r, _events) = reporter();
    let l = Limiter::new(Jobs::Auto, r);
    assert_eq!(l.limit(), INITIAL.min(open_files_cap()));
    let big = 16 << 20;
    let mut held: Vec<Permit> = (0..MIN_FILES).map(|_| admits(&l, big).unwrap()).collect();
    assert!(
        admits(&l, big).is_none(),
        "64 MiB in flight before the link's rate is known"
    );
    // Small files still go, up to the limit.
    while held.len() < l.limit() {
        held.push(admits(&l, 4096).expect("a small file"));
    }
    assert!(admits(&l, 4096).is_none(), "the limit");
    held.truncate(1);
    assert!(admits(&l, 4096).is_some());
}

#[test]
fn auto_keeps_the_files_in_flight_within_the_memory_budget() {
    let (r, _events) = reporter();
    let l = Limiter::new(Jobs::Auto, r);
    // The link is fast and the limit high: bytes in flight are no bound, memory is.
    l.lock().auto.as_mut().unwrap().control = Controller::new(AUTO_MAX, AUTO_MAX);
    l.lock().limit = AUTO_MAX;
    l.sent(1 << 40);
    let a_second_ago = Instant::now() - Duration::from_secs(1);
    l.lock()
        .auto
        .as_mut()
        .unwrap()
        .meter
        .samples
        .push_back((a_second_ago, 0));
    for size in [1 << 20, 4096] {
        let mut held = Vec::new();
        while let Some(p) = admits(&l, size) {
            held.push(p);
            if held.len() > AUTO_MAX {
                break;
            }
        }
        let budget = (MEMORY / memory(size)) as usize;
        if open_files_cap() >= budget {
            assert_eq!(held.len(), budget, "files of {size} bytes");
        }
    }
    assert_eq!(l.lock().memory, 0, "every place given back");
    // A run that has found a million files keeps about 9 MB for them: the files in
    // flight get what is left of the budget.
    l.found(1_000_000);
    let mut held = Vec::new();
    while let Some(p) = admits(&l, 16) {
        held.push(p);
        if held.len() > AUTO_MAX {
            break;
        }
    }
    let left = MEMORY - 1_000_000 * seen::COST_PER_FILE;
    let budget = ((left / memory(16)) as usize).max(MIN_FILES);
    if open_files_cap() >= budget {
        assert_eq!(held.len(), budget, "files in flight after a million found");
    }
}

#[test]
fn auto_doubles_as_answers_come_back_and_reports_it() {
    let (r, mut events) = reporter();
    let l = Limiter::new(Jobs::Auto, r);
    let start = l.limit();
    let held: Vec<Permit> = (0..start).map(|_| admits(&l, 10).unwrap()).collect();
    assert!(admits(&l, 10).is_none(), "the limit binds");
    let later = Instant::now() + MIN_ROUND;
    for _ in 0..start {
        l.answered_at(Role::Api, later, later);
    }
    assert_eq!(l.limit(), (2 * start).min(l.max()));
    drop(held);
    let seen: Vec<(usize, usize)> = events
        .drain()
        .filter_map(|e| match e {
            Event::Concurrency { from, to, .. } => Some((from, to)),
            _ => None,
        })
        .collect();
    if l.max() > start {
        assert_eq!(seen, [(start, 2 * start)]);
    }
}

fn pushback() -> Failure<()> {
    Failure::Transient {
        error: (),
        reason: "HTTP 429".into(),
        retry_after: Some(Duration::from_secs(1)),
        sign: HealthSign::Pushback,
    }
}

/// A transient failure with these words and this sign, without Retry-After.
fn transient(reason: &str, sign: HealthSign) -> Failure<()> {
    Failure::Transient {
        error: (),
        reason: reason.into(),
        retry_after: None,
        sign,
    }
}

#[test]
fn pushback_counts_only_while_other_requests_succeed() {
    let (r, _events) = reporter();
    let l = Limiter::new(Jobs::Auto, r);
    let start = l.limit();
    let began = Instant::now();
    l.ended(pushback().request_end(), Role::Api, began);
    assert_eq!(
        l.limit(),
        start,
        "nothing answered yet: an outage, not pushback"
    );
    l.answered(Role::Api, Instant::now());
    l.ended(
        pushback().request_end(),
        Role::Api,
        Instant::now() + Duration::from_secs(1),
    );
    assert_eq!(
        l.limit(),
        start,
        "nothing answered while that request was out"
    );
    l.ended(pushback().request_end(), Role::Api, began);
    let cut = ((start as f64 * SLOW_START_DECREASE) as usize).max(1);
    assert_eq!(l.limit(), cut);
    // Other failures are neither pushback nor answers.
    for other in [
        transient("HTTP 503", HealthSign::ServerError(503)),
        transient(
            "connection reset",
            HealthSign::Dropped("connection reset".into()),
        ),
        Failure::Local(()),
        Failure::Fatal {
            error: (),
            fatal: Fatal {
                kind: FatalKind::Certificate,
                reason: "untrusted".into(),
            },
        },
    ] {
        l.ended(other.request_end(), Role::Api, Instant::now());
        assert_eq!(l.limit(), cut);
    }
    // Pushback to requests sent before the cut is no news, even rounds later.
    let later = Instant::now() + MIN_ROUND;
    for _ in 0..3 * start {
        l.answered_at(Role::Api, later, later);
    }
    l.ended(pushback().request_end(), Role::Api, began);
    assert_eq!(l.limit(), cut);
    l.ended(pushback().request_end(), Role::Api, Instant::now());
    let again = l.limit();
    assert!(again < cut, "a request sent after the cut");
    // A 503 with Retry-After is pushback too.
    for _ in 0..3 * start {
        l.answered_at(Role::Api, later + MIN_ROUND, later + MIN_ROUND);
    }
    let busy = Failure::Transient {
        error: (),
        reason: "HTTP 503".into(),
        retry_after: Some(Duration::from_secs(2)),
        sign: HealthSign::Busy(503),
    };
    l.ended(busy.request_end(), Role::Api, Instant::now());
    assert!(l.limit() < again, "{} then {}", again, l.limit());
}

/// The storage answering says nothing of the API: a 503 with Retry-After from an API that
/// is out, while the uploads already under way go on being answered, cuts nothing (it is
/// the start of an outage); the storage's own pushback, while it answers others, does.
#[test]
fn pushback_counts_only_while_the_same_service_answers() {
    let (r, _events) = reporter();
    let l = Limiter::new(Jobs::Auto, r);
    let start = l.limit();
    l.answered(Role::Api, Instant::now());
    let began = Instant::now();
    for _ in 0..3 {
        l.answered(Role::Storage, Instant::now());
    }
    l.ended(pushback().request_end(), Role::Api, began);
    assert_eq!(l.limit(), start, "the API answered nothing meanwhile");
    l.ended(pushback().request_end(), Role::Storage, began);
    let cut = ((start as f64 * SLOW_START_DECREASE) as usize).max(1);
    assert_eq!(l.limit(), cut, "the storage answered others meanwhile");
}

/// After a cut, no other until a request sent since has been answered (TCP's once a
/// window): at an outage's start the API still answers what was already under way, and
/// those answers must not make each new failure look like pushback again.
#[test]
fn after_a_cut_only_an_answer_to_a_request_sent_since_allows_the_next() {
    let (r, _events) = reporter();
    let l = Limiter::new(Jobs::Auto, r);
    let early = Instant::now();
    l.answered(Role::Api, early);
    l.ended(pushback().request_end(), Role::Api, early);
    let start = l.limit();
    assert!(start < INITIAL.min(open_files_cap()), "the first cut");
    // Rounds of answers, all to requests sent before the cut: the cut's cool-down is
    // over, and the API has been answering all along.
    let later = Instant::now() + MIN_ROUND;
    for _ in 0..3 * INITIAL {
        l.answered_at(Role::Api, early, later);
    }
    let held = l.limit();
    let sent_since = Instant::now();
    l.ended(pushback().request_end(), Role::Api, sent_since);
    assert_eq!(
        l.limit(),
        held,
        "no request sent since the cut was answered"
    );
    l.answered_at(Role::Api, sent_since, later);
    l.ended(pushback().request_end(), Role::Api, sent_since);
    assert!(l.limit() < held, "one was: pushback again");
}

#[test]
fn a_held_limiter_ignores_pushback() {
    let (r, _events) = reporter();
    let l = Limiter::new(Jobs::Auto, r);
    let start = l.limit();
    l.answered(Role::Api, Instant::now());
    l.hold(true);
    for _ in 0..10 {
        l.ended(pushback().request_end(), Role::Api, Instant::now());
        let words = "timed out: operation timed out";
        l.ended(
            Failure::timed_out((), words.into()).request_end(),
            Role::Api,
            Instant::now(),
        );
    }
    assert_eq!(l.limit(), start);
    // The first answer ends the outage.
    let began = Instant::now();
    l.answered(Role::Api, Instant::now());
    assert!(!l.lock().auto.as_ref().unwrap().control.held());
    l.ended(
        Failure::timed_out((), "no progress for 60 s".into()).request_end(),
        Role::Api,
        began,
    );
    assert!(l.limit() < start, "a timeout counts again");
}

#[test]
fn the_link_rate_is_measured_over_about_a_second() {
    let mut m = Meter::new();
    let t0 = Instant::now();
    assert_eq!(m.rate(t0, 0), None, "no span yet");
    let mut rate = None;
    for i in 1..=30u64 {
        rate = m.rate(t0 + Duration::from_millis(100 * i), i * 1_000_000);
    }
    let rate = rate.unwrap();
    assert!((rate - 10_000_000.0).abs() < 1.0, "{rate}");
    assert!(m.samples.len() <= 12, "{}", m.samples.len());
}

#[test]
fn the_open_file_limit_caps_auto() {
    let cap = open_files_cap();
    assert!((1..=AUTO_MAX).contains(&cap));
}
