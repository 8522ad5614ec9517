//! A small, coverage-free fuzzing engine for the stable toolchain, and the
//! structure-aware generators Tollgate's fuzz targets share.
//!
//! The machines that build Tollgate have only the stable toolchain, so
//! libFuzzer's sanitizer coverage (cargo-fuzz, nightly) is out. What is
//! left is relentless, time-bounded random testing that a plain
//! `cargo test` can run, with the parts that make it pay:
//!
//! * a **corpus** per target (`fuzz/corpus/<target>/`, kept in the
//!   repository): replayed first on every run, and mutated after;
//! * **mutations** of bytes (flips, inserts, deletes, repeats, splices,
//!   dictionary words, interesting numbers, broken UTF-8) and of JSON trees
//!   (a node replaced, deleted, duplicated, retyped or wrapped);
//! * **structure-aware generators** ([`generate`]): valid-ish JSON, arbitrary
//!   Unicode, server-sent event streams, which each target composes into
//!   its own input shape (a chat request, an Anthropic event sequence, a
//!   `tollgate.toml`);
//! * a **time budget** per target from `FUZZ_SECONDS` (unset: a quick
//!   smoke run of `FUZZ_RUNS` inputs, 300 by default, with a fixed seed, as
//!   `cargo test` runs it), `FUZZ_SEED` to repeat a run;
//! * **crash handling**: a panic (or a failed invariant, which panics) is
//!   caught, the input shrunk, saved as `corpus/<target>/crash-<hash>`,
//!   and the test fails naming the file. Kept in the corpus, the input is
//!   replayed by every later run: a regression test from then on.
//!
//! Everything a target does must be a function of its input bytes (split
//! points, limits and modes are derived from them), so a saved input
//! reproduces its crash.
//!
//! This crate depends on no Tollgate crate; the targets live in
//! `tests/fuzz/` and reach the crates under test as dev-dependencies.
#![deny(missing_docs)]

pub mod generate;
mod mutate;

use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Once;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub use rand;

/// The random source generators take.
pub type Rand = SmallRng;

/// A generator of structure-aware inputs.
type Generator = Box<dyn Fn(&mut Rand) -> Vec<u8>>;

/// The longest input the engine makes by mutation (`FUZZ_MAX_LEN`).
const DEFAULT_MAX_LEN: usize = 64 * 1024;

/// Inputs generated and mutated in smoke mode (`FUZZ_RUNS`).
const DEFAULT_RUNS: u64 = 300;

/// How long shrinking a crash may take.
const SHRINK_TIME: Duration = Duration::from_secs(20);

/// The size of the in-memory pool of inputs mutated beside the corpus.
const POOL: usize = 512;

thread_local! {
    /// Inside a target: the panic hook records instead of printing.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// The last panic's location and message, recorded by the hook.
    static LAST_PANIC: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some((location, message)));
            } else {
                default(info);
            }
        }));
    });
}

/// A panic caught in a target: where, and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Crash {
    location: String,
    message: String,
}

fn run_one(target: &dyn Fn(&[u8]), input: &[u8]) -> Result<(), Crash> {
    QUIET.with(|q| q.set(true));
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| target(input)));
    QUIET.with(|q| q.set(false));
    result.map_err(|_| {
        let (location, message) = LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_default();
        Crash { location, message }
    })
}

/// The settings of a run, from the environment.
#[derive(Debug, Clone)]
struct Settings {
    /// `FUZZ_SECONDS`: the time budget; `None` runs `runs` inputs.
    budget: Option<Duration>,
    /// `FUZZ_RUNS`: inputs in smoke mode.
    runs: u64,
    /// `FUZZ_SEED`.
    seed: Option<u64>,
    /// `FUZZ_MAX_LEN`.
    max_len: usize,
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

impl Settings {
    fn from_env() -> Self {
        let budget = env_number::<f64>("FUZZ_SECONDS")
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        Settings {
            budget,
            runs: env_number("FUZZ_RUNS").unwrap_or(DEFAULT_RUNS),
            seed: env_number("FUZZ_SEED"),
            max_len: env_number("FUZZ_MAX_LEN").unwrap_or(DEFAULT_MAX_LEN),
        }
    }
}

/// FNV-1a: names crash files and seeds runs; stable across builds.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The corpus directory of a target: `fuzz/corpus/<target>`.
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// Reads a target's corpus: every file of its directory (names starting
/// with `.` and `README` skipped), by name.
fn read_corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(dir) = std::fs::read_dir(corpus_dir(target)) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = dir
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with("README") {
                return None;
            }
            std::fs::read(e.path()).ok().map(|bytes| (name, bytes))
        })
        .collect();
    files.sort();
    files
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Corpus inputs replayed.
    pub corpus: usize,
    /// New inputs tried.
    pub runs: u64,
    /// Time spent.
    pub elapsed: Duration,
    /// The slowest single input.
    pub slowest: Duration,
    /// The seed of the random inputs.
    pub seed: u64,
}

/// One fuzz target: a name (its corpus directory), structure-aware
/// generators, a dictionary of words worth inserting, and the function
/// under test given to [`Fuzzer::run`].
pub struct Fuzzer {
    name: &'static str,
    generators: Vec<Generator>,
    dictionary: Vec<Vec<u8>>,
}

impl Fuzzer {
    /// A target named `name` (its corpus is `fuzz/corpus/<name>/`).
    pub fn new(name: &'static str) -> Self {
        Fuzzer {
            name,
            generators: Vec::new(),
            dictionary: mutate::BASE_DICTIONARY
                .iter()
                .map(|w| w.as_bytes().to_vec())
                .collect(),
        }
    }

    /// Adds a structure-aware generator.
    pub fn generator(mut self, generator: impl Fn(&mut Rand) -> Vec<u8> + 'static) -> Self {
        self.generators.push(Box::new(generator));
        self
    }

    /// Adds words (keys, enum values, markers) that mutations insert.
    pub fn dictionary(mut self, words: &[&str]) -> Self {
        self.dictionary
            .extend(words.iter().map(|w| w.as_bytes().to_vec()));
        self
    }

    /// Replays the corpus, then feeds `target` new inputs until the budget
    /// is spent. Panics (failing the test) on the first input that makes
    /// `target` panic, after shrinking it and saving it to the corpus.
    #[expect(
        clippy::print_stderr,
        reason = "a test harness: the run's figures go to the test output"
    )]
    pub fn run(self, target: impl Fn(&[u8])) -> Stats {
        install_hook();
        let settings = Settings::from_env();
        let start = Instant::now();
        let corpus = read_corpus(self.name);
        let mut slowest = Duration::ZERO;
        for (file, input) in &corpus {
            let t = Instant::now();
            if let Err(crash) = run_one(&target, input) {
                fail(&format!(
                    "fuzz target `{}`: corpus input {} fails: {} at {}\ninput ({} bytes): {}",
                    self.name,
                    corpus_dir(self.name).join(file).display(),
                    crash.message,
                    crash.location,
                    input.len(),
                    show(input),
                ));
            }
            slowest = slowest.max(t.elapsed());
        }
        let seed = settings.seed.unwrap_or_else(|| {
            let name = fnv1a(self.name.as_bytes());
            match settings.budget {
                // A timed run explores: a new seed each time (printed).
                Some(_) => name ^ u64::from(std::process::id()) ^ clock_nanos(),
                None => name,
            }
        });
        let mut rng = Rand::seed_from_u64(seed);
        let mut pool: Vec<Vec<u8>> = corpus.into_iter().map(|(_, bytes)| bytes).collect();
        let corpus_len = pool.len();
        let fuzz_start = Instant::now();
        let mut runs = 0u64;
        loop {
            let done = match settings.budget {
                Some(budget) => fuzz_start.elapsed() >= budget,
                None => runs >= settings.runs,
            };
            if done {
                break;
            }
            let input = self.next_input(&mut rng, &pool, settings.max_len);
            let t = Instant::now();
            if let Err(crash) = run_one(&target, &input) {
                let small = shrink(&target, input.clone(), &crash);
                let saved = save_crash(self.name, &small);
                fail(&format!(
                    "fuzz target `{}` (seed {seed}, run {runs}): {} at {}\n\
                     shrunk input ({} bytes, from {}), {}:\n{}",
                    self.name,
                    crash.message,
                    crash.location,
                    small.len(),
                    input.len(),
                    saved,
                    show(&small),
                ));
            }
            slowest = slowest.max(t.elapsed());
            runs += 1;
            // Coverage-free: keep a sample of what was tried, so mutations
            // build on structure rather than always starting over.
            if pool.len() < POOL + corpus_len {
                pool.push(input);
            } else if rng.random_ratio(1, 4) {
                let i = rng.random_range(corpus_len.min(pool.len() - 1)..pool.len());
                pool[i] = input;
            }
        }
        let stats = Stats {
            corpus: corpus_len,
            runs,
            elapsed: start.elapsed(),
            slowest,
            seed,
        };
        eprintln!(
            "fuzz {}: {} corpus inputs and {} new ones in {:.1} s (seed {}, slowest input {} ms)",
            self.name,
            stats.corpus,
            stats.runs,
            stats.elapsed.as_secs_f64(),
            stats.seed,
            stats.slowest.as_millis()
        );
        stats
    }

    fn next_input(&self, rng: &mut Rand, pool: &[Vec<u8>], max_len: usize) -> Vec<u8> {
        let generate = |rng: &mut Rand| -> Option<Vec<u8>> {
            if self.generators.is_empty() {
                return None;
            }
            let g = &self.generators[rng.random_range(0..self.generators.len())];
            Some(g(rng))
        };
        let pick = |rng: &mut Rand| -> Option<Vec<u8>> {
            if pool.is_empty() {
                return None;
            }
            Some(pool[rng.random_range(0..pool.len())].clone())
        };
        let roll = rng.random_range(0..100);
        let mut input = if roll < 35 {
            generate(rng)
        } else if roll < 80 {
            pick(rng).map(|mut input| {
                let n = 1 + rng.random_range(0..4);
                for _ in 0..n {
                    mutate::mutate(rng, &mut input, pool, &self.dictionary);
                }
                input
            })
        } else if roll < 88 {
            generate(rng).map(|mut input| {
                mutate::mutate(rng, &mut input, pool, &self.dictionary);
                input
            })
        } else if roll < 95 {
            Some(mutate::random_bytes(rng, &self.dictionary))
        } else {
            Some(mutate::words(rng, &self.dictionary))
        }
        .unwrap_or_else(|| mutate::random_bytes(rng, &self.dictionary));
        input.truncate(max_len);
        input
    }
}

fn clock_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}

#[expect(clippy::panic, reason = "a test harness: failing the test is its job")]
fn fail(message: &str) -> ! {
    panic!("{message}")
}

/// Shrinks a crashing input: removes ever smaller ranges while the target
/// still panics at the same place, then simplifies bytes.
fn shrink(target: &dyn Fn(&[u8]), mut input: Vec<u8>, crash: &Crash) -> Vec<u8> {
    let deadline = Instant::now() + SHRINK_TIME;
    let same =
        |candidate: &[u8]| run_one(target, candidate).is_err_and(|c| c.location == crash.location);
    // Whole lines first: text formats (TOML, SSE) rarely survive losing
    // part of a line, so byte ranges alone leave lines that could go.
    let mut line = 0;
    while Instant::now() < deadline {
        let starts: Vec<usize> = std::iter::once(0)
            .chain(
                input
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        if line >= starts.len() {
            break;
        }
        let start = starts[line];
        let end = starts.get(line + 1).copied().unwrap_or(input.len());
        let mut candidate = input[..start].to_vec();
        candidate.extend_from_slice(&input[end..]);
        if end > start && same(&candidate) {
            input = candidate;
        } else {
            line += 1;
        }
    }
    let mut chunk = input.len().div_ceil(2).max(1);
    while Instant::now() < deadline {
        let mut i = 0;
        let mut progressed = false;
        while i < input.len() && Instant::now() < deadline {
            let end = (i + chunk).min(input.len());
            let mut candidate = Vec::with_capacity(input.len() - (end - i));
            candidate.extend_from_slice(&input[..i]);
            candidate.extend_from_slice(&input[end..]);
            if same(&candidate) {
                input = candidate;
                progressed = true;
            } else {
                i += chunk;
            }
        }
        if !progressed {
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
    }
    input
}

/// Saves a crashing input as `corpus/<target>/crash-<hash>`; says where.
fn save_crash(target: &str, input: &[u8]) -> String {
    let dir = corpus_dir(target);
    let path = dir.join(format!("crash-{:016x}", fnv1a(input)));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input)) {
        Ok(()) => format!(
            "saved as {} (keep it: the corpus is replayed on every run)",
            path.display()
        ),
        Err(e) => format!("could not be saved to {}: {e}", path.display()),
    }
}

/// An input for a message: text as a Rust string literal would show it,
/// cut after 4 KiB.
fn show(input: &[u8]) -> String {
    const SHOWN: usize = 4096;
    let shown = &input[..input.len().min(SHOWN)];
    let mut text = format!("b\"{}\"", shown.escape_ascii());
    if input.len() > SHOWN {
        text.push_str(&format!(" ... ({} more bytes)", input.len() - SHOWN));
    }
    text
}

/// Split points for `len` bytes, derived from `key` (so they are a
/// function of the input): up to `max` cuts, sorted, deduplicated.
pub fn splits(key: u64, len: usize, max: usize) -> Vec<usize> {
    if len < 2 || max == 0 {
        return Vec::new();
    }
    let mut rng = Rand::seed_from_u64(key);
    let n = rng.random_range(1..=max);
    let mut cuts: Vec<usize> = (0..n).map(|_| rng.random_range(1..len)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// `bytes` cut at `cuts` (sorted offsets inside it).
pub fn cut<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut parts = Vec::with_capacity(cuts.len() + 1);
    let mut at = 0;
    for &c in cuts {
        if c > at && c < bytes.len() {
            parts.push(&bytes[at..c]);
            at = c;
        }
    }
    parts.push(&bytes[at..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_covers_the_input_in_order() {
        let bytes = b"0123456789";
        for key in 0..50 {
            let cuts = splits(key, bytes.len(), 4);
            let parts = cut(bytes, &cuts);
            assert_eq!(parts.concat(), bytes);
            assert!(parts.iter().all(|p| !p.is_empty()));
        }
    }

    #[test]
    fn shrink_keeps_the_crash() {
        install_hook();
        let target = |input: &[u8]| {
            if input.windows(3).any(|w| w == b"BUG") {
                fail("found");
            }
        };
        let input = b"xxxxxxBUGyyyyyyyy".to_vec();
        let crash = run_one(&target, &input).unwrap_err();
        assert_eq!(crash.message, "found");
        assert_eq!(shrink(&target, input, &crash), b"BUG");
    }
}
