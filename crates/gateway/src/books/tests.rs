//! The books against a real SQLite store in a temporary directory, with a
//! manual clock: time moves only when a test says so.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::SubsecRound;
use rust_decimal::Decimal;
use sqlx::Connection;
use tollgate_store::{GenerationRecord, HoldState, KeyKind, NewApiKey, Store};

use super::clock::{Clock, ManualClock};
use super::{
    Books, Charge, LEASE_IDLE, LEASE_RENEW, LocalHold, MAX_AGE, Mode, Refusal, Settings, lock,
};
use crate::observe::BooksMetrics;

const TTL: Duration = Duration::from_secs(20);
const MS: Duration = Duration::from_millis(1);

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A store with one account and key, and books over it.
struct Fixture {
    _dir: tempfile::TempDir,
    url: String,
    store: Store,
    clock: Arc<ManualClock>,
    metrics: BooksMetrics,
    books: Arc<Books>,
    account: String,
    key: String,
}

impl Fixture {
    /// `credits` on the account; `limit` on the key.
    async fn new(mode: Mode, credits: &str, limit: Option<&str>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("books.db").display());
        let store = Store::connect(&url).await.unwrap();
        let account = store.create_account("acme").await.unwrap().id;
        store.top_up(&account, d(credits), None).await.unwrap();
        let key = new_key(&store, &account).await;
        if let Some(limit) = limit {
            store
                .set_api_key_limit(&key, Some(d(limit)), None)
                .await
                .unwrap();
        }
        let clock = Arc::new(ManualClock::new());
        let metrics = BooksMetrics::default();
        let books = books(&store, mode, "a", &clock, &metrics);
        Fixture {
            _dir: dir,
            url,
            store,
            clock,
            metrics,
            books,
            account,
            key,
        }
    }

    async fn place(&self, amount: &str) -> Result<LocalHold, Refusal> {
        self.books.place(&self.account, &self.key, d(amount)).await
    }

    /// Runs `sql` on a connection of its own.
    async fn execute(&self, sql: &str) {
        let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }

    /// The id of the key's lease, as the books hold it.
    fn lease_id(&self) -> Option<String> {
        lock(&self.books.tables)
            .leases
            .get(&self.key)
            .and_then(|l| l.hold_id.clone())
    }

    /// What this replica's live leases of the account hold in the store.
    async fn leased(&self, books: &Books) -> Decimal {
        self.store
            .leased(
                &books.settings.replica,
                Some(&self.account),
                None,
                self.clock.utc(),
            )
            .await
            .unwrap()
    }
}

fn books(
    store: &Store,
    mode: Mode,
    replica: &str,
    clock: &Arc<ManualClock>,
    metrics: &BooksMetrics,
) -> Arc<Books> {
    let clock: Arc<dyn Clock> = clock.clone();
    Books::with_clock(
        store.clone(),
        Settings {
            mode,
            durable: false,
            replica: replica.to_owned(),
            lease_ttl: TTL,
        },
        clock,
        metrics.clone(),
    )
}

async fn new_key(store: &Store, account: &str) -> String {
    let (_, key) = store
        .create_api_key(
            account,
            NewApiKey {
                label: "k".to_owned(),
                kind: KeyKind::Inference,
            },
        )
        .await
        .unwrap();
    key.hash
}

fn charge(charge: &str) -> Charge {
    Charge {
        charge: d(charge),
        fee: Decimal::ZERO,
        key_counted: d(charge),
    }
}

fn available(refusal: Result<LocalHold, Refusal>) -> Decimal {
    match refusal {
        Err(Refusal::Credits { available }) => available,
        other => panic!("expected a refusal for credits, got {other:?}"),
    }
}

#[tokio::test]
async fn a_hold_beyond_the_balance_is_refused_with_what_is_available() {
    let f = Fixture::new(Mode::Local, "1", None).await;
    f.place("0.6").await.unwrap();
    assert_eq!(available(f.place("0.5").await), d("0.4"));
    f.place("0.4").await.unwrap();
    assert_eq!(available(f.place("0.000000000001").await), d("0"));
}

#[tokio::test]
async fn a_hold_beyond_the_key_limit_is_refused_with_what_is_left() {
    let f = Fixture::new(Mode::Local, "10", Some("0.5")).await;
    f.place("0.3").await.unwrap();
    match f.place("0.3").await {
        Err(Refusal::KeyLimit { limit, remaining }) => {
            assert_eq!((limit, remaining), (d("0.5"), d("0.2")));
        }
        other => panic!("expected a key limit refusal, got {other:?}"),
    }
    f.place("0.2").await.unwrap();
}

#[tokio::test]
async fn settle_and_release_move_exactly_their_amounts() {
    let f = Fixture::new(Mode::Local, "1", Some("0.9")).await;
    let settled = f.place("0.5").await.unwrap();
    let released = f.place("0.3").await.unwrap();
    let b = f.books.balance(&f.account).await.unwrap();
    assert_eq!((b.held, b.available), (d("0.8"), d("0.2")));

    let fee = Charge {
        charge: d("0.2"),
        fee: d("0.01"),
        key_counted: d("0.21"),
    };
    f.books.settle(&settled, fee, "gen-1").await;
    f.books.release(&released);
    let b = f.books.balance(&f.account).await.unwrap();
    assert_eq!(
        (b.total_usage, b.held, b.available),
        (d("0.21"), d("0"), d("0.79"))
    );
    // Written as settled: the store agrees.
    let stored = f.store.balance(&f.account).await.unwrap();
    assert_eq!(
        (stored.total_usage, stored.available),
        (d("0.21"), d("0.79"))
    );
    let usage = f
        .books
        .key_usage(&f.key, f.clock.utc())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(usage.limit_remaining, Some(d("0.69")));
    // The key has 0.69 left, the account 0.79.
    assert!(matches!(
        f.place("0.7").await,
        Err(Refusal::KeyLimit { remaining, .. }) if remaining == d("0.69")
    ));
    f.place("0.69").await.unwrap();
}

#[tokio::test]
async fn figures_are_reloaded_after_max_age() {
    let f = Fixture::new(Mode::Local, "1", None).await;
    let hold = f.place("0.9").await.unwrap();
    f.books.release(&hold);
    // Money moved behind the books' back.
    f.store.top_up(&f.account, d("1"), None).await.unwrap();
    assert_eq!(available(f.place("1.5").await), d("1"));
    f.clock.advance(MAX_AGE - MS);
    assert_eq!(available(f.place("1.5").await), d("1"));
    f.clock.advance(MS);
    f.place("1.5").await.unwrap();
    assert_eq!(available(f.place("1").await), d("0.5"));
}

#[tokio::test]
async fn a_failed_write_stays_counted_as_spent() {
    let f = Fixture::new(Mode::Local, "1", None).await;
    f.execute(
        "CREATE TRIGGER refuse_settlements BEFORE INSERT ON ledger WHEN NEW.kind = 'settle' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .await;
    let hold = f.place("0.5").await.unwrap();
    f.books.settle(&hold, charge("0.3"), "gen-1").await;
    f.books.flush().await;
    assert_eq!(f.metrics.failures.get(), 1);
    assert_eq!(f.metrics.writes.get(), 0);
    assert_eq!(
        f.store.balance(&f.account).await.unwrap().total_usage,
        d("0")
    );
    assert_eq!(
        lock(&f.books.tables).accounts[&f.account].unflushed,
        d("0.3")
    );
    // Still spent, for the next hold and for what is shown ...
    assert_eq!(available(f.place("0.8").await), d("0.7"));
    let shown = f.books.balance(&f.account).await.unwrap();
    assert_eq!((shown.total_usage, shown.available), (d("0.3"), d("0.7")));
    // ... and after a reload, though the store never saw it.
    f.execute("DROP TRIGGER refuse_settlements").await;
    f.clock.advance(MAX_AGE);
    assert_eq!(available(f.place("0.8").await), d("0.7"));

    // A write that lands leaves the unwritten figure.
    let hold = f.place("0.2").await.unwrap();
    f.books.settle(&hold, charge("0.1"), "gen-2").await;
    f.books.flush().await;
    assert_eq!(f.metrics.writes.get(), 1);
    assert_eq!(
        lock(&f.books.tables).accounts[&f.account].unflushed,
        d("0.3")
    );
    assert_eq!(available(f.place("0.7").await), d("0.6"));
}

/// The count and sum of a histogram, from its text exposition.
fn histogram(h: &prometheus_client::metrics::histogram::Histogram) -> (String, String) {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("h", "", h.clone());
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    (value("h_count "), value("h_sum "))
}

#[tokio::test]
async fn writes_queued_together_are_committed_in_one_batch() {
    let f = Fixture::new(Mode::Local, "10", None).await;
    let mut holds = Vec::new();
    for _ in 0..20 {
        holds.push(f.place("0.1").await.unwrap());
    }
    // Settling does not wait (no durable replies): all twenty are queued
    // before the writer runs.
    for (i, hold) in holds.iter().enumerate() {
        f.books
            .settle(hold, charge("0.01"), &format!("gen-{i}"))
            .await;
    }
    f.books.flush().await;
    assert_eq!(
        histogram(&f.metrics.batch_size),
        ("1".into(), "20.0".into())
    );
    assert_eq!(f.metrics.writes.get(), 20);
    assert_eq!(
        f.store.balance(&f.account).await.unwrap().total_usage,
        d("0.2")
    );
}

#[tokio::test]
async fn a_lease_is_taken_for_many_holds_and_renewed_when_short() {
    let f = Fixture::new(Mode::Leased, "10", None).await;
    f.place("0.1").await.unwrap();
    let first = f.lease_id().unwrap();
    assert!(first.starts_with("lease_a_"), "{first}");
    assert_eq!(f.leased(&f.books).await, d("3.2"));
    f.place("0.1").await.unwrap();
    assert_eq!(f.lease_id().unwrap(), first);
    // 3.0 left in the lease: 3.1 renews it, carrying the 0.2 in flight,
    // as much as the balance allows.
    f.place("3.1").await.unwrap();
    let second = f.lease_id().unwrap();
    assert_ne!(second, first);
    assert_eq!(f.leased(&f.books).await, d("10"));
    let old = f.store.get_hold(&first).await.unwrap().unwrap();
    assert_eq!(old.state, HoldState::Released);
    // Shown: what is in flight, not the lease.
    let b = f.books.balance(&f.account).await.unwrap();
    assert_eq!((b.held, b.available), (d("3.3"), d("6.7")));
    assert_eq!(available(f.place("6.8").await), d("6.7"));
}

#[tokio::test]
async fn a_lease_is_renewed_after_lease_renew() {
    let f = Fixture::new(Mode::Leased, "10", None).await;
    f.place("0.1").await.unwrap();
    let first = f.lease_id().unwrap();
    // The heartbeat keeps it alive meanwhile.
    for _ in 0..3 {
        f.clock.advance(TTL / 4);
        f.books.beat().await.unwrap();
    }
    f.clock.advance(LEASE_RENEW - 3 * (TTL / 4) - MS);
    f.books.beat().await.unwrap();
    f.place("0.1").await.unwrap();
    assert_eq!(f.lease_id().unwrap(), first);
    f.clock.advance(MS);
    f.place("0.1").await.unwrap();
    assert_ne!(f.lease_id().unwrap(), first);
}

#[tokio::test]
async fn an_idle_lease_is_returned() {
    let f = Fixture::new(Mode::Leased, "10", None).await;
    let hold = f.place("0.1").await.unwrap();
    let lease = f.lease_id().unwrap();
    f.books.settle(&hold, charge("0.05"), "gen-1").await;
    f.books.flush().await;
    f.clock.advance(LEASE_IDLE - MS);
    assert!(!f.books.has_idle_lease());
    f.books.return_leases(false).await;
    assert_eq!(f.leased(&f.books).await, d("3.2"));
    f.clock.advance(MS);
    assert!(f.books.has_idle_lease());
    f.books.return_leases(false).await;
    assert_eq!(f.leased(&f.books).await, d("0"));
    let returned = f.store.get_hold(&lease).await.unwrap().unwrap();
    assert_eq!(returned.state, HoldState::Released);
    let b = f.store.balance(&f.account).await.unwrap();
    assert_eq!((b.held, b.available), (d("0"), d("9.95")));
}

#[tokio::test]
async fn the_heartbeat_keeps_a_lease_alive_and_a_lapsing_one_is_renewed() {
    let f = Fixture::new(Mode::Leased, "10", None).await;
    f.place("0.1").await.unwrap();
    let lease = f.lease_id().unwrap();
    f.clock.advance(TTL / 2);
    f.books.beat().await.unwrap();
    let held = f.store.get_hold(&lease).await.unwrap().unwrap();
    assert_eq!(
        held.expires_at,
        f.clock.utc().trunc_subsecs(6) + chrono::Duration::seconds(20)
    );
    // More than half the TTL left: the lease serves.
    f.clock.advance(TTL / 2 - MS);
    f.place("0.1").await.unwrap();
    assert_eq!(f.lease_id().unwrap(), lease);
    // Half or less left (the heartbeat stalled): it no longer serves new
    // holds, the next one renews it.
    f.clock.advance(MS);
    f.place("0.1").await.unwrap();
    let renewed = f.lease_id().unwrap();
    assert_ne!(renewed, lease);
    // A lease the store let lapse is closed by the next beat.
    f.clock.advance(TTL);
    f.books.beat().await.unwrap();
    assert_eq!(
        f.store.get_hold(&renewed).await.unwrap().unwrap().state,
        HoldState::Open
    );
    assert_eq!(f.leased(&f.books).await, d("0"));
    f.place("0.1").await.unwrap();
    assert_ne!(f.lease_id().unwrap(), renewed);
    // Carrying the three holds still in flight.
    assert_eq!(f.leased(&f.books).await, d("3.5"));
}

#[tokio::test]
async fn the_shown_balance_is_the_admitted_one_across_replicas() {
    let f = Fixture::new(Mode::Leased, "10", None).await;
    let b = books(&f.store, Mode::Leased, "b", &f.clock, &f.metrics);
    // Replica a leases 3.2 for a hold of 0.1 still in flight.
    f.place("0.1").await.unwrap();
    let on_a = f.books.balance(&f.account).await.unwrap();
    assert_eq!((on_a.held, on_a.available), (d("0.1"), d("9.9")));
    // Replica b counts a's lease as held, and admits exactly that.
    let on_b = b.balance(&f.account).await.unwrap();
    assert_eq!((on_b.held, on_b.available), (d("3.2"), d("6.8")));
    assert_eq!(
        available(b.place(&f.account, &f.key, d("6.9")).await),
        on_b.available
    );
    b.place(&f.account, &f.key, d("6.8")).await.unwrap();
    // Replica a stops beating (it died); b goes on.
    f.clock.advance(TTL / 2);
    b.beat().await.unwrap();
    f.clock.advance(TTL / 2 - MS);
    assert_eq!(b.balance(&f.account).await.unwrap().available, d("0"));
    // The instant a's lease lapses, b sees (and may spend) what it held.
    f.clock.advance(MS);
    let on_b = b.balance(&f.account).await.unwrap();
    assert_eq!((on_b.held, on_b.available), (d("6.8"), d("3.2")));
    b.place(&f.account, &f.key, d("3.2")).await.unwrap();
}

#[tokio::test]
async fn a_refusal_first_shrinks_the_replicas_other_leases_of_the_account() {
    let f = Fixture::new(Mode::Leased, "10", None).await;
    let second = new_key(&f.store, &f.account).await;
    f.place("0.1").await.unwrap();
    assert_eq!(f.leased(&f.books).await, d("3.2"));
    // Shown: 9.9 available (the first key's lease counts by its 0.1 in
    // flight); admitted alike, by shrinking that lease.
    assert_eq!(
        f.books.balance(&f.account).await.unwrap().available,
        d("9.9")
    );
    f.books.place(&f.account, &second, d("9.9")).await.unwrap();
    assert_eq!(f.leased(&f.books).await, d("10"));
    assert_eq!(available(f.place("0.000000000001").await), d("0"));
}

/// A successful BYOK generation of the fixture's account and key.
fn byok_generation(f: &Fixture, id: &str, at: chrono::DateTime<chrono::Utc>) -> GenerationRecord {
    GenerationRecord {
        is_byok: true,
        upstream_inference_cost: Some(d("0.001")),
        ..tollgate_store::testing::generation(id, &f.account, &f.key, at)
    }
}

/// In local mode the month's BYOK count is read from the store once and
/// then kept, so a BYOK request does not count the month's generations
/// under the commit lock: generations recorded here count at once, still
/// once after they land, and a row written behind the books' back is not
/// seen until another month is asked for. Leased replicas read it every
/// time, since other replicas write too.
#[tokio::test]
async fn the_months_byok_count_is_read_once_and_kept_in_local_mode() {
    let f = Fixture::new(Mode::Local, "10", None).await;
    let december = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 7, 12, 0, 0).unwrap();
    let january = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2027, 1, 2, 0, 0, 0).unwrap();
    let count = |at| {
        let books = f.books.clone();
        let account = f.account.clone();
        async move { books.byok_requests_in_month(&account, at).await.unwrap() }
    };
    f.store
        .record_generation(&byok_generation(&f, "gen-before", december))
        .await
        .unwrap();
    assert_eq!(count(december).await, 1);
    f.books.record(byok_generation(&f, "gen-here", december));
    assert_eq!(count(december).await, 2, "an unwritten one counts");
    f.books.flush().await;
    assert_eq!(count(december).await, 2, "a landed one counts once");
    let mut errored = byok_generation(&f, "gen-failed", december);
    errored.error = Some("upstream 500".to_owned());
    f.books.record(errored);
    f.books.flush().await;
    assert_eq!(count(december).await, 2, "a failed one never counts");
    f.store
        .record_generation(&byok_generation(&f, "gen-behind", december))
        .await
        .unwrap();
    assert_eq!(count(december).await, 2, "the month's count was kept");
    assert_eq!(count(january).await, 0);
    assert_eq!(count(december).await, 3, "asked again, the store is read");
    assert_eq!(
        f.store
            .byok_requests_in_month(&f.account, december)
            .await
            .unwrap(),
        3
    );

    let leased = Fixture::new(Mode::Leased, "10", None).await;
    let count = |at| {
        let books = leased.books.clone();
        let account = leased.account.clone();
        async move { books.byok_requests_in_month(&account, at).await.unwrap() }
    };
    assert_eq!(count(december).await, 0);
    leased
        .store
        .record_generation(&byok_generation(&leased, "gen-other-replica", december))
        .await
        .unwrap();
    assert_eq!(
        count(december).await,
        1,
        "a leased replica reads every time"
    );
}
