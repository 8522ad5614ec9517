//! Rebuild when a migration is added or edited: `sqlx::migrate!` embeds the
//! SQL files at compile time, and cargo does not otherwise watch them.

// Printing to stdout is how a build script talks to cargo.
#![allow(clippy::print_stdout)]

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
