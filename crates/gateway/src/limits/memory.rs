//! Counters in this process's memory: one entry per active account holding
//! only its current windows, swept once every window has ended.

// foldhash: these maps are looked up on every request, with keys
// from the operator's configuration or the gateway itself; SipHash
// cost some 6,600 instructions a request across them.
use foldhash::HashMap;
use std::sync::{Mutex, PoisonError};

use super::{Hit, Rule};

/// A sweep runs after this many checks, or after as many checks as there are
/// entries if that is more: amortised O(1) per check.
const SWEEP_EVERY: usize = 1024;

/// In-memory counters. One mutex: a check is a hash lookup and a few
/// integer compares, far cheaper than the contention sharding would save.
#[derive(Debug, Default)]
pub(crate) struct MemoryBackend {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    accounts: HashMap<String, Slots>,
    checks_since_sweep: usize,
}

/// An account's counters, one per [`super::Scope`].
#[derive(Debug, Default)]
struct Slots {
    counters: [Counter; 4],
    /// When the last of its windows ends: the entry is dead after that.
    expires_at_ms: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    /// The window counted (`now / window`).
    index: u64,
    count: u64,
}

impl Counter {
    /// The count in `rule`'s window: a counter left from an earlier (or,
    /// with a clock stepped back, later) window counts as empty.
    fn current(self, rule: &Rule) -> u64 {
        if self.index == rule.index {
            self.count
        } else {
            0
        }
    }
}

impl MemoryBackend {
    /// Admits and counts, or refuses and counts nothing, atomically.
    pub(crate) fn hit(&self, account: &str, rules: &[Rule], now_ms: u64) -> Hit {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.maybe_sweep(now_ms);
        if let Some(slots) = inner.accounts.get_mut(account) {
            return slots.apply(rules);
        }
        let mut slots = Slots::default();
        let hit = slots.apply(rules);
        inner.accounts.insert(account.to_owned(), slots);
        hit
    }

    /// Entries held (for tests of eviction).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .accounts
            .len()
    }
}

impl Slots {
    fn apply(&mut self, rules: &[Rule]) -> Hit {
        let mut counts: Vec<u64> = rules
            .iter()
            .map(|r| self.counters[r.scope.slot()].current(r))
            .collect();
        let admitted = rules.iter().zip(&counts).all(|(r, c)| *c < r.limit);
        if admitted {
            for (r, count) in rules.iter().zip(counts.iter_mut()) {
                *count += 1;
                self.counters[r.scope.slot()] = Counter {
                    index: r.index,
                    count: *count,
                };
                self.expires_at_ms = self.expires_at_ms.max(r.reset_at_ms());
            }
        }
        Hit { admitted, counts }
    }
}

impl Inner {
    fn maybe_sweep(&mut self, now_ms: u64) {
        self.checks_since_sweep += 1;
        if self.checks_since_sweep >= SWEEP_EVERY.max(self.accounts.len()) {
            self.checks_since_sweep = 0;
            self.accounts.retain(|_, s| s.expires_at_ms > now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DAY_MS, MINUTE_MS, SECOND_MS, Scope};
    use super::*;

    const T0: u64 = 1_800_000_000_000;

    fn minute(limit: u64, now: u64) -> Rule {
        Rule::new(Scope::FreeMinute, limit, MINUTE_MS, now)
    }

    #[test]
    fn counts_up_to_the_limit_then_refuses_without_counting() {
        let m = MemoryBackend::default();
        for i in 1..=3 {
            assert_eq!(
                m.hit("a", &[minute(3, T0)], T0),
                Hit {
                    admitted: true,
                    counts: vec![i]
                }
            );
        }
        for _ in 0..5 {
            assert_eq!(
                m.hit("a", &[minute(3, T0)], T0),
                Hit {
                    admitted: false,
                    counts: vec![3]
                }
            );
        }
        // The next window starts from zero.
        let later = T0 + MINUTE_MS;
        assert!(m.hit("a", &[minute(3, later)], later).admitted);
    }

    #[test]
    fn a_refusal_by_one_limit_counts_in_none() {
        let m = MemoryBackend::default();
        let day = Rule::new(Scope::FreeDay, 100, DAY_MS, T0);
        assert!(m.hit("a", &[minute(1, T0), day], T0).admitted);
        let hit = m.hit("a", &[minute(1, T0), day], T0);
        assert_eq!(
            hit,
            Hit {
                admitted: false,
                counts: vec![1, 1]
            }
        );
        // The day counter did not move on the refusal.
        let t = T0 + MINUTE_MS;
        let day = Rule::new(Scope::FreeDay, 100, DAY_MS, t);
        assert_eq!(m.hit("a", &[minute(1, t), day], t).counts, vec![1, 2]);
    }

    #[test]
    fn ended_windows_are_evicted() {
        let m = MemoryBackend::default();
        for i in 0..5000u64 {
            let now = T0 + i;
            let surge = Rule::new(Scope::Surge, 10, SECOND_MS, now);
            m.hit(&format!("acct-{i}"), &[surge], now);
        }
        assert!(m.len() > 1000);
        // Much later, a few checks by one account sweep the rest away.
        let later = T0 + 10 * SECOND_MS;
        for _ in 0..=5000 {
            let surge = Rule::new(Scope::Surge, u64::MAX, SECOND_MS, later);
            m.hit("survivor", &[surge], later);
        }
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn an_account_with_a_live_day_window_is_kept() {
        let m = MemoryBackend::default();
        let day = Rule::new(Scope::FreeDay, 100, DAY_MS, T0);
        m.hit("daily", &[day], T0);
        let later = T0 + 10 * SECOND_MS;
        for _ in 0..=SWEEP_EVERY {
            let surge = Rule::new(Scope::Surge, u64::MAX, SECOND_MS, later);
            m.hit("other", &[surge], later);
        }
        assert_eq!(m.len(), 2);
    }
}
