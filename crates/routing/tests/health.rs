//! The health tracker feeding plans: a failing provider is skipped (tried
//! last), then recovers after the window.

use std::time::Duration;

use tollgate_routing::{
    Choice, EndpointKey, HealthTracker, Outcome, Policy, RouteRequest, Timestamp, plan,
};

use crate::support::{abc, order, rng};

#[test]
fn failing_endpoint_goes_last_then_recovers() {
    let catalog = abc();
    let policy = Policy::default();
    let mut tracker = HealthTracker::new(&policy);
    let a = EndpointKey::new("m/x", "a");
    let t = |s: u64| Timestamp::from_millis(s * 1000);
    for s in 0..3 {
        tracker.record(&a, &Outcome::failure(Some(503)), t(s));
    }
    tracker.record(
        &EndpointKey::new("m/x", "b"),
        &Outcome::success()
            .with_latency(Duration::from_millis(800))
            .with_tokens_per_second(40.0),
        t(2),
    );
    let req = RouteRequest::new("m/x");
    let health = tracker.snapshot(t(3));
    for seed in 0..50 {
        let p = plan(&req, &catalog, &health, &policy, &mut rng(seed)).unwrap();
        assert_eq!(p.attempts[2].provider(), "a", "{:?}", order(&p));
        assert_eq!(p.attempts[2].choice, Choice::Outage);
        assert_eq!(p.attempts[2].health.unwrap().last_status, Some(503));
    }
    let b = p_health(&tracker, t(3));
    assert_eq!(b, Some(40.0));

    // 10 s after the last failure the window is clear: `a` is back in the
    // draw and, as the cheapest, usually first.
    let health = tracker.snapshot(t(12));
    let firsts = (0..200)
        .filter(|&seed| {
            let p = plan(&req, &catalog, &health, &policy, &mut rng(seed)).unwrap();
            p.attempts[0].provider() == "a"
        })
        .count();
    assert!((80..=140).contains(&firsts), "{firsts}");
}

fn p_health(tracker: &HealthTracker, now: Timestamp) -> Option<f64> {
    tracker
        .health(&EndpointKey::new("m/x", "b"), now)
        .and_then(|h| h.throughput_tps)
}

#[test]
fn a_longer_window_is_an_operator_setting() {
    let catalog = abc();
    let policy = Policy {
        outage_window_secs: 30,
        ..Policy::default()
    };
    let mut tracker = HealthTracker::new(&policy);
    let a = EndpointKey::new("m/x", "a");
    for ms in [0, 100, 200] {
        tracker.record(&a, &Outcome::failure(Some(500)), Timestamp::from_millis(ms));
    }
    let req = RouteRequest::new("m/x");
    let at = |s: u64| tracker.snapshot(Timestamp::from_millis(s * 1000));
    let last = |s: u64| {
        let p = plan(&req, &catalog, &at(s), &policy, &mut rng(1)).unwrap();
        p.attempts[2].provider().to_string()
    };
    assert_eq!(last(20), "a");
    assert!(!at(31).in_outage("m/x", "a"));
}
