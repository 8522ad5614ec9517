//! Command-line flags.

use super::daemon::Launch;

#[test]
fn help_exits_0_and_mentions_dev() {
    let out = Launch::bare().args(["--help"]).run();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("--dev"), "{}", out.stdout);
    assert!(out.stdout.contains("--config"), "{}", out.stdout);
    assert!(out.stdout.contains("--listen"), "{}", out.stdout);
}

#[test]
fn version_exits_0() {
    let out = Launch::bare().args(["--version"]).run();
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with(&format!("tollgated {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        out.stdout
    );
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let out = Launch::bare().args(["--frobnicate"]).run();
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--frobnicate"), "{}", out.stderr);
}

#[test]
fn a_listen_address_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Launch::bare().args(["--dev", "--listen", &addr]).run();
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(out.stderr.contains(&addr), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}
