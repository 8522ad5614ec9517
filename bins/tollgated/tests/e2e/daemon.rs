//! Running the real `tollgated` binary: spawn it, wait (bounded) for the
//! line announcing its address, talk to it, signal it, and kill it on drop.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The demo API key the tests hand to `--dev` through the environment.
pub const DEV_API_KEY: &str = "sk-tg-v1-test-e2e-0123456789abcdef";
/// The admin key the tests hand to `--dev` through the environment.
pub const ADMIN_KEY: &str = "sk-tg-admin-test-e2e-fedcba9876543210";

/// How long start-up may take (a debug build migrating SQLite while other
/// test binaries compete for the CPU).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a process may take to exit once it has no reason to stay.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

const LISTENING: &str = "Tollgate listening on http://";

/// The variables the daemon reads, cleared so the caller's environment
/// cannot leak into a test.
const CLEARED_ENV: &[&str] = &[
    "TOLLGATE_CONFIG",
    "TOLLGATE_LOG_FORMAT",
    "TOLLGATE_DEV_API_KEY",
    "TOLLGATE_DEV_PROVISIONING_KEY",
    "TOLLGATE_REDIS_URL",
    "NO_COLOR",
    "TOLLGATE_ADMIN_KEY",
    "RUST_LOG",
    // `[telemetry]`'s fallback, and what the OTLP exporter reads.
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
];

/// How to start `tollgated`.
#[derive(Debug, Clone)]
pub struct Launch {
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    open_files: Option<u64>,
    cwd: Option<PathBuf>,
}

impl Launch {
    /// `tollgated --dev --listen 127.0.0.1:0` with the test keys and
    /// `RUST_LOG=warn`.
    pub fn dev() -> Launch {
        Launch::bare()
            .args(["--dev", "--listen", "127.0.0.1:0"])
            .env("TOLLGATE_DEV_API_KEY", DEV_API_KEY)
            .env("TOLLGATE_ADMIN_KEY", ADMIN_KEY)
    }

    /// `tollgated` with no arguments and only `RUST_LOG=warn` set.
    pub fn bare() -> Launch {
        Launch {
            args: Vec::new(),
            env: vec![(String::from("RUST_LOG"), String::from("warn"))],
            open_files: None,
            cwd: None,
        }
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Launch
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds `--config PATH`.
    pub fn config(self, path: &Path) -> Launch {
        self.args([OsString::from("--config"), path.as_os_str().to_owned()])
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Unsets an environment variable set earlier.
    pub fn without_env(mut self, key: &str) -> Launch {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// Runs the process with this limit on open files (`ulimit -n`, set
    /// by `sh` before it execs the daemon).
    pub fn open_files(mut self, limit: u64) -> Launch {
        self.open_files = Some(limit);
        self
    }

    /// Runs the process in `dir` (else the test's working directory).
    pub fn cwd(mut self, dir: &Path) -> Launch {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// Spawns the process without waiting for anything.
    pub fn spawn(&self) -> Daemon {
        let bin = env!("CARGO_BIN_EXE_tollgated");
        let mut cmd = match self.open_files {
            None => Command::new(bin),
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(bin);
                sh
            }
        };
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for key in CLEARED_ENV {
            cmd.env_remove(key);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn tollgated");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
        Daemon {
            child,
            lines,
            stdout: Vec::new(),
            stderr,
            readers: vec![stdout_reader, stderr_reader],
            addr: None,
        }
    }

    /// Spawns the process and waits until it announces its address.
    pub fn start(&self) -> Daemon {
        let mut daemon = self.spawn();
        daemon.wait_listening();
        daemon
    }

    /// Runs the process to its exit (bounded) and returns what it printed.
    pub fn run(&self) -> Finished {
        let mut daemon = self.spawn();
        let status = daemon.wait_exit(EXIT_TIMEOUT);
        Finished {
            status,
            stdout: daemon.stdout().join("\n"),
            stderr: daemon.stderr(),
        }
    }
}

/// A process that ran to its end.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

/// A running `tollgated`, killed when dropped.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    lines: Receiver<String>,
    stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    addr: Option<SocketAddr>,
}

impl Daemon {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address it announced.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("the daemon has not announced its address")
    }

    /// `http://ADDR/api/v1`.
    pub fn api(&self) -> String {
        format!("http://{}/api/v1", self.addr())
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// The stdout lines read so far.
    pub fn stdout(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.stdout.push(line);
        }
        &self.stdout
    }

    /// Everything printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Reads stdout until a line satisfies `pred` and returns it; panics
    /// (with what the process printed) when it does not come in time.
    pub fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.stdout.iter().find(|l| pred(l)) {
            return line.clone();
        }
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("no {what} on stdout after {START_TIMEOUT:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(EXIT_TIMEOUT);
                    self.fail(&format!(
                        "tollgated exited ({status}) before printing {what}"
                    ));
                }
            }
        }
    }

    /// Waits for `Tollgate listening on http://ADDR/api/v1`.
    pub fn wait_listening(&mut self) -> SocketAddr {
        let line = self.wait_line("listening line", |l| l.starts_with(LISTENING));
        let addr = line
            .strip_prefix(LISTENING)
            .and_then(|rest| rest.strip_suffix("/api/v1"))
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .unwrap_or_else(|| self.fail(&format!("malformed listening line {line:?}")));
        self.addr = Some(addr);
        addr
    }

    /// Sends a signal (`TERM`, `INT`, ...) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Waits (bounded) for the process to exit, then for its output.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("tollgated still running after {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The pipes close with the process: the readers end promptly.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        self.stdout();
        status
    }

    /// Kills the process and panics with everything it printed.
    pub fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let stdout = self.stdout().join("\n");
        panic!(
            "{why}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
            self.stderr()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory holding a `tollgate.toml` and its listing files.
#[derive(Debug)]
pub struct ConfigDir {
    dir: tempfile::TempDir,
}

impl ConfigDir {
    /// An empty directory.
    pub fn new() -> ConfigDir {
        ConfigDir {
            dir: tempfile::Builder::new()
                .prefix("tollgated-e2e-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` with `text`; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write config file");
        path
    }

    /// Copies `fixtures/e2e/<fixture>` to `name`; returns its path.
    pub fn copy_fixture(&self, fixture: &str, name: &str) -> PathBuf {
        self.write(name, &fixture_text(fixture))
    }
}

/// The text of `fixtures/e2e/<name>`.
pub fn fixture_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/e2e")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A `tollgate.toml` with one OpenAI-dialect provider `acme` at
/// `base_url`, listed by `listing` (relative to the config file), and
/// `extra` appended.
pub fn acme_config(base_url: &str, listing: &str, extra: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"

[[providers]]
slug = "acme"
name = "Acme"
dialect = "openai"
base_url = "{base_url}"
models = "{listing}"
{extra}"#
    )
}
