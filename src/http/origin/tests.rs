//! The decisions of `Health`, with the time given: which failures make an origin suspect
//! or out, when it is probed, when the run stops.

use super::*;

fn limits(role: Role, max_outage: Duration) -> HealthLimits {
    HealthLimits {
        role,
        who: "the API (api.example.com)".into(),
        name: "API".into(),
        max_outage,
        retry_after_cap: Duration::from_secs(30),
    }
}

const S503: HealthSign = HealthSign::ServerError(503);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A request, not a probe.
fn req(op: u64) -> Attempt {
    Attempt { op, probe: false }
}

fn probe(op: u64) -> Attempt {
    Attempt { op, probe: true }
}

/// Asks the gate at `now` for a request that then stops waiting (as the gate's guard
/// takes it out of the queue).
fn admit(h: &mut Health, now: Instant, l: &HealthLimits) -> Admit {
    let a = h.admit(now, 99, l);
    h.queue.retain(|&q| q != 99);
    a
}

/// Takes the probe's turn at `now`, which must be open.
fn take_probe(h: &mut Health, now: Instant, l: &HealthLimits) {
    match admit(h, now, l) {
        Admit::Probe => {}
        other => panic!("expected the probe's turn, got {}", admit_name(&other)),
    }
}

fn admit_name(a: &Admit) -> &'static str {
    match a {
        Admit::Go => "go",
        Admit::Probe => "probe",
        Admit::Wait(_) => "wait",
        Admit::Stop(_) => "stop",
    }
}

#[test]
fn failures_among_successes_never_make_an_origin_suspect() {
    let l = limits(Role::Api, secs(300.0));
    let t0 = Instant::now();
    let mut h = Health::new(t0);
    h.alive(t0, false, &l);
    // Two failures, a success, two failures...: for a minute, from many requests.
    for i in 0..600u64 {
        let now = t0 + secs(i as f64 * 0.1);
        if i % 3 == 2 {
            assert!(h.alive(now, false, &l).is_none());
        } else {
            let (v, e) = h.failed(now, req(i), &S503, None, &l);
            assert!(matches!(v, FailureVerdict::Count { .. }), "{v:?}");
            assert!(e.is_none());
        }
        assert!(matches!(admit(&mut h, now, &l), Admit::Go));
    }
}

#[test]
fn one_request_failing_alone_is_its_own_problem() {
    let l = limits(Role::Api, secs(300.0));
    let t0 = Instant::now();
    let mut h = Health::new(t0);
    h.alive(t0, false, &l);
    for i in 0..20 {
        let (v, _) = h.failed(t0 + secs(i as f64), req(7), &S503, None, &l);
        assert!(
            matches!(v, FailureVerdict::Count { streak: Some(_) }),
            "{v:?}"
        );
        assert!(matches!(admit(&mut h, t0 + secs(i as f64), &l), Admit::Go));
    }
}

#[test]
fn an_outage_is_probed_one_at_a_time_then_ridden_out() {
    let l = limits(Role::Api, secs(300.0));
    let t0 = Instant::now();
    let mut h = Health::new(t0);
    h.alive(t0, false, &l);
    // Eight requests in flight fail at once: suspect after the third.
    let mut verdicts = vec![];
    for op in 0..8 {
        verdicts.push(h.failed(t0, req(op), &S503, None, &l).0);
    }
    assert!(verdicts
        .iter()
        .all(|v| matches!(v, FailureVerdict::Count { streak: Some(1) })));
    // New work waits for the probe's turn, which comes within the first backoff.
    assert!(matches!(admit(&mut h, t0, &l), Admit::Wait(Some(_))));
    let mut now = t0 + PROBE_FIRST;
    take_probe(&mut h, now, &l);
    assert!(
        matches!(admit(&mut h, now, &l), Admit::Wait(None)),
        "one probe at a time"
    );
    // Failed probes back off, doubling up to the cap, and count until the origin is out.
    let mut gaps = vec![];
    let mut outage_events = 0;
    let mut freed = false;
    while now < t0 + secs(30.0) {
        let (v, e) = h.failed(now, probe(1), &S503, None, &l);
        if let Some(Event::Outage {
            origin,
            reason,
            down_for,
            retry_in,
        }) = &e
        {
            outage_events += 1;
            assert_eq!((origin.as_str(), reason.as_str()), ("API", "HTTP 503"));
            assert!(*down_for >= OUTAGE_AFTER && *retry_in <= PROBE_CAP);
        }
        match v {
            FailureVerdict::Count { .. } => assert!(!freed && now - t0 < OUTAGE_AFTER + PROBE_CAP),
            FailureVerdict::Free { streak: 1 } => freed = true,
            other => panic!("{other:?}"),
        }
        let next = h.next_probe;
        gaps.push(next - now);
        assert!(matches!(admit(&mut h, now, &l), Admit::Wait(Some(_))));
        now = next;
        take_probe(&mut h, now, &l);
    }
    assert!(freed, "out after {OUTAGE_AFTER:?}");
    assert!(gaps.iter().all(|g| *g <= PROBE_CAP), "{gaps:?}");
    assert!(gaps.len() < 20, "few probes in 30 s: {gaps:?}");
    assert!(
        (2..=4).contains(&outage_events),
        "told when out, then at most every {NOTICE_EVERY:?}: {outage_events}"
    );
    // The first answer ends it, and every request goes again.
    match h.alive(now, true, &l) {
        Some(Event::OutageOver { origin, down_for }) => {
            assert_eq!(origin, "API");
            assert!(down_for >= secs(30.0));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(admit(&mut h, now, &l), Admit::Go));
    assert!(!h.probing);
}

#[test]
fn past_max_outage_the_origin_stops_the_run() {
    let l = limits(Role::Api, secs(2.0));
    let t0 = Instant::now();
    let mut h = Health::new(t0);
    h.alive(t0, false, &l);
    for op in 0..3 {
        h.failed(t0, req(op), &S503, None, &l);
    }
    let mut now = t0;
    let stop = loop {
        match admit(&mut h, now, &l) {
            Admit::Probe => match h.failed(now, probe(9), &S503, None, &l).0 {
                FailureVerdict::Stop(stop) => break stop,
                _ => now = h.next_probe,
            },
            Admit::Wait(Some(at)) => now = at,
            Admit::Stop(stop) => break stop,
            other => panic!("{}", admit_name(&other)),
        }
        assert!(now <= t0 + secs(2.0), "never waits past the limit");
    };
    assert!(matches!(stop.kind, StopKind::Outage { .. }), "{stop:?}");
    let text = stop.to_string();
    assert!(
        text.starts_with("API unavailable (HTTP 503) for 2s") && text.contains("--max-outage"),
        "{text}"
    );
    // Every later request stops at once.
    assert!(matches!(admit(&mut h, now + secs(1.0), &l), Admit::Stop(_)));
    assert!(matches!(
        h.failed(now, req(1), &S503, None, &l).0,
        FailureVerdict::Stop(_)
    ));
}

#[test]
fn nothing_listening_where_the_api_never_answered_is_fatal() {
    let refused = HealthSign::Unreachable("connection refused".into());
    let t0 = Instant::now();
    let api = limits(Role::Api, secs(300.0));
    let mut h = Health::new(t0);
    match h.failed(t0, req(0), &refused, None, &api).0 {
        FailureVerdict::Stop(stop) => {
            assert_eq!(stop.kind, StopKind::Fatal(FatalKind::Unreachable));
            assert_eq!(
                stop.to_string(),
                "cannot reach the API (api.example.com): connection refused"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(admit(&mut h, t0, &api), Admit::Stop(_)));

    // A storage host the API chose: that request's problem.
    let storage = limits(Role::Storage, secs(300.0));
    let mut h = Health::new(t0);
    for op in 0..10 {
        let (v, _) = h.failed(t0, req(op), &refused, None, &storage);
        assert_eq!(v, FailureVerdict::Count { streak: None });
    }
    assert!(matches!(admit(&mut h, t0, &storage), Admit::Go));

    // Once the API has answered, refusals are a sign it is down.
    let mut h = Health::new(t0);
    h.alive(t0, false, &api);
    let (v, _) = h.failed(t0, req(0), &refused, None, &api);
    assert_eq!(v, FailureVerdict::Count { streak: Some(1) });
}

#[test]
fn a_fatal_failure_stops_every_request_to_the_origin() {
    let l = limits(Role::Storage, secs(300.0));
    let t0 = Instant::now();
    let mut h = Health::new(t0);
    let stop = h.fatal(
        &Fatal {
            kind: FatalKind::Certificate,
            reason: "the certificate is not trusted: it has expired".into(),
        },
        &l,
    );
    assert_eq!(
        stop.to_string(),
        "cannot connect securely to the API (api.example.com): the certificate is not trusted: it has expired"
    );
    assert!(matches!(admit(&mut h, t0, &l), Admit::Stop(s) if s == stop));
    // The CLI's words for it (`lib.rs`): a usage error with the fix.
    let err = crate::stop_error(stop);
    let usage = err
        .downcast_ref::<crate::exit::UsageError>()
        .expect("exit 2");
    assert!(usage.hints[0].contains("--ca-cert"), "{usage:?}");
}

#[test]
fn pushback_is_counted_and_never_an_outage() {
    let l = limits(Role::Api, secs(300.0));
    let t0 = Instant::now();
    let mut h = Health::new(t0);
    for op in 0..50 {
        let (v, e) = h.failed(
            t0 + secs(op as f64),
            req(op),
            &HealthSign::Pushback,
            None,
            &l,
        );
        assert_eq!(v, FailureVerdict::Count { streak: None });
        assert!(e.is_none());
        assert!(matches!(admit(&mut h, t0 + secs(op as f64), &l), Admit::Go));
    }
    assert_eq!(h.pushbacks, 50);
    // A 429 from a suspect origin is a sign of life.
    for op in 0..3 {
        h.failed(t0, req(op), &S503, None, &l);
    }
    assert!(matches!(admit(&mut h, t0, &l), Admit::Wait(_)));
    h.failed(t0, req(0), &HealthSign::Pushback, None, &l);
    assert!(matches!(admit(&mut h, t0, &l), Admit::Go));
}

#[test]
fn a_retry_after_paces_the_probes() {
    let l = limits(Role::Api, secs(300.0));
    let t0 = Instant::now();
    let mut h = Health::new(t0);
    h.alive(t0, false, &l);
    let busy = HealthSign::Busy(503);
    for op in 0..3 {
        h.failed(t0, req(op), &busy, Some(secs(7.0)), &l);
    }
    assert!(h.next_probe >= t0 + secs(7.0), "a request's Retry-After");
    let now = h.next_probe;
    take_probe(&mut h, now, &l);
    h.failed(now, probe(0), &busy, Some(secs(120.0)), &l);
    assert_eq!(h.next_probe, now + secs(30.0), "capped");
    assert_eq!(h.pushbacks, 4);
}

#[test]
fn failures_before_the_first_answer_say_nothing_of_an_outage() {
    let l = limits(Role::Api, secs(300.0));
    let t0 = Instant::now();
    let mut h = Health::new(t0);
    let reset = HealthSign::Dropped("connection reset".into());
    for op in 0..10 {
        let (v, _) = h.failed(t0, req(op), &reset, None, &l);
        assert_eq!(v, FailureVerdict::Count { streak: None });
    }
    assert!(matches!(admit(&mut h, t0, &l), Admit::Go));
    // A 5xx is an answer: from then on, resets count.
    h.failed(t0, req(0), &S503, None, &l);
    h.failed(t0, req(1), &reset, None, &l);
    h.failed(t0, req(2), &reset, None, &l);
    assert!(matches!(admit(&mut h, t0, &l), Admit::Wait(_)), "suspect");
}

/// The gate: while an origin is suspect, one request probes and the others wait; its
/// answer lets them all go. Turns are given by setting the next probe's time, not by
/// waiting for it.
#[test]
fn the_gate_lets_one_probe_through_and_everyone_after_its_answer() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (reporter, mut events) = Reporter::channel();
        let origins = Origins::new(reporter, secs(300.0), secs(30.0));
        let url = reqwest::Url::parse("https://api.example.com/v1/assets").unwrap();
        let api = origins.origin(&url, Role::Api);
        let other = reqwest::Url::parse("https://api.example.com:443/other").unwrap();
        assert!(
            Arc::ptr_eq(&api, &origins.origin(&other, Role::Api)),
            "one origin"
        );
        api.enter(0).await.unwrap().alive();
        for op in 0..3 {
            let v = api.enter(op).await.unwrap().failed(&S503, None);
            assert!(matches!(v, FailureVerdict::Count { .. }));
        }
        api.health().next_probe = Instant::now();
        let prober = api.enter(10).await.unwrap();
        let waiting = tokio::spawn({
            let api = api.clone();
            async move { api.enter(11).await.map(|p| p.probe) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "waits while the probe is out");
        prober.alive();
        assert_eq!(
            waiting.await.unwrap(),
            Ok(false),
            "goes, and not as a probe"
        );
        {
            let h = api.health();
            assert_eq!((h.pushbacks, h.mode == health::HealthMode::Out), (0, false));
        }

        // A probe dropped untold (its request was cancelled) frees the turn.
        for op in 0..3 {
            api.enter(op).await.unwrap().failed(&S503, None);
        }
        api.health().next_probe = Instant::now();
        drop(api.enter(20).await.unwrap());
        let prober = api.enter(21).await.unwrap();
        assert!(prober.probe);

        // A fatal failure ends every request, waiting or new.
        let waiting = tokio::spawn({
            let api = api.clone();
            async move { api.enter(22).await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let stop = prober.fatal(&Fatal {
            kind: FatalKind::ProxyAuth,
            reason: "the proxy refused the credentials".into(),
        });
        assert_eq!(waiting.await.unwrap(), Err(stop.clone()));
        assert_eq!(api.enter(24).await.err(), Some(stop));
        drop(origins);
        drop(api);
        assert!(events.drain().all(|e| !matches!(e, Event::Outage { .. })));
    });
}

#[test]
fn probes_go_first_come_first_served() {
    let l = limits(Role::Api, secs(300.0));
    let t0 = Instant::now();
    let mut h = Health::new(t0);
    h.alive(t0, false, &l);
    for op in 0..3 {
        h.failed(t0, req(op), &S503, None, &l);
    }
    // Three requests wait, in this order.
    for op in [5, 6, 7] {
        assert!(matches!(h.admit(t0, op, &l), Admit::Wait(Some(_))));
    }
    let mut now = h.next_probe;
    let mut probers = vec![];
    for _ in 0..6 {
        // Whoever asks first once the turn is due, only the first in line gets it.
        let mut turn = None;
        for op in [7, 6, 5] {
            if let Admit::Probe = h.admit(now, op, &l) {
                assert!(turn.replace(op).is_none(), "one probe at a time");
            }
        }
        let op = turn.expect("a turn");
        probers.push(op);
        // Its probe fails, and it queues again at the back.
        h.failed(now, probe(op), &S503, None, &l);
        assert!(matches!(h.admit(now, op, &l), Admit::Wait(_)));
        now = h.next_probe;
    }
    assert_eq!(probers, [5, 6, 7, 5, 6, 7]);
}
