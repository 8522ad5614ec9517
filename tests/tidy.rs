//! Tidy checks: the architecture invariants of `ARCHITECTURE.md` that the
//! dependency graph can prove, read from `cargo metadata`.
//!
//! * **Purity**: the pure crates pull no I/O, async runtime, HTTP or
//!   database crate into their normal dependency tree (the whole tree, not
//!   just their own manifests).
//! * **Direction**: a Tollgate crate depends (normal and build
//!   dependencies) only on Tollgate crates of a lower layer of [`LAYERS`];
//!   the test kit depends on no Tollgate crate, and only the gateway's `dev`
//!   feature and the binaries pull it into a normal build; the test-only
//!   crates (the fuzz targets) use Tollgate crates as dev-dependencies
//!   only, and nothing builds them in.
//! * **HTTP towards clients**: no crate below the gateway depends on an HTTP
//!   server crate (axum, hyper, ...); they may classify errors and suggest a
//!   status, the gateway writes the responses.
//!
//! Dev-dependencies are free: tests may use anything.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: malformed `cargo metadata` output should fail it loudly"
)]

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::process::Command;

use serde_json::Value;

/// The layers of the workspace, lowest first. A crate may depend only on
/// crates of strictly lower layers, so crates of one layer never depend on
/// each other. Every workspace member must be listed here, be [`TESTKIT`]
/// or be in [`TEST_ONLY`].
const LAYERS: &[&[&str]] = &[
    &["tollgate-schema"],
    &["tollgate-catalog"],
    &[
        "tollgate-routing",
        "tollgate-transforms",
        "tollgate-billing",
    ],
    &["tollgate-transport"],
    &["tollgate-store"],
    &["tollgate-gateway"],
    // the binaries and the facade
    &["tollgated", "tollgate-cli", "mock-provider", "tollgate"],
];

/// The mock providers: they depend on no Tollgate crate (the mock must not
/// share our types' bugs), and no library depends on them in a normal build
/// except the gateway through its optional `dev` feature.
const TESTKIT: &str = "tollgate-testkit";

/// Test-only leaves: they reach Tollgate crates as dev-dependencies only
/// (their tests use them), no crate builds them in (normal or build
/// dependency), and they are never published. The fuzz targets live here (`fuzz/`): being in no layer,
/// they may exercise any crate.
const TEST_ONLY: &[&str] = &["tollgate-fuzz"];

/// The library that may pull in [`TESTKIT`] as an optional dependency, and
/// the feature that does it.
const TESTKIT_FEATURE: (&str, &str) = ("tollgate-gateway", "dev");

/// The crates that must build without I/O or async code, each with the
/// features it is checked with (its default ones). Schema's `client`
/// feature is opt-in network code, so it is left out. Catalog reads files
/// with `std::fs` but has no async or network code either.
const PURE: &[&str] = &[
    "tollgate-schema",
    "tollgate-catalog",
    "tollgate-routing",
    "tollgate-transforms",
    "tollgate-billing",
];

/// Crates that do I/O or bring an async runtime, HTTP or a database.
const IMPURE: &[&str] = &[
    "async-io",
    "async-std",
    "async-trait",
    "axum",
    "axum-core",
    "futures",
    "futures-executor",
    "futures-io",
    "futures-util",
    "h2",
    "hyper",
    "hyper-util",
    "libsqlite3-sys",
    "mio",
    "postgres",
    "redis",
    "reqwest",
    "rusqlite",
    "smol",
    "socket2",
    "sqlx",
    "sqlx-core",
    "tokio",
    "tokio-postgres",
    "tokio-rustls",
    "tokio-stream",
    "tokio-util",
    "tonic",
    "tower",
    "tower-http",
    "ureq",
    "wiremock",
];

/// The workspace as `cargo metadata` sees it.
struct Workspace {
    /// Every package by id.
    packages: HashMap<String, Value>,
    /// The resolve graph's nodes by package id.
    nodes: HashMap<String, Value>,
    /// Workspace members: name to id.
    members: HashMap<String, String>,
}

impl Workspace {
    /// Runs `cargo metadata` on this workspace, for the host platform (so
    /// that no other platform's packages need to be downloaded).
    fn load() -> Self {
        let cargo = env!("CARGO");
        let version = Command::new(cargo).arg("-vV").output().unwrap();
        let version = String::from_utf8(version.stdout).unwrap();
        let host = version
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .expect("`cargo -vV` names the host");
        let output = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--locked", "--offline"])
            .args(["--filter-platform", host])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
        let by_id = |items: &Value| -> HashMap<String, Value> {
            items
                .as_array()
                .unwrap()
                .iter()
                .map(|item| (item["id"].as_str().unwrap().to_owned(), item.clone()))
                .collect()
        };
        let packages = by_id(&metadata["packages"]);
        let nodes = by_id(&metadata["resolve"]["nodes"]);
        let members = metadata["workspace_members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| {
                let id = id.as_str().unwrap().to_owned();
                (name(&packages[&id]).to_owned(), id)
            })
            .collect();
        Workspace {
            packages,
            nodes,
            members,
        }
    }

    fn package(&self, id: &str) -> &Value {
        &self.packages[id]
    }

    fn is_member(&self, id: &str) -> bool {
        self.members.values().any(|member| member == id)
    }
}

fn name(package: &Value) -> &str {
    package["name"].as_str().unwrap()
}

/// The manifest's dependencies of `package` that are built into it: normal
/// and build dependencies, not dev-dependencies.
fn built_dependencies(package: &Value) -> impl Iterator<Item = &Value> {
    package["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|dep| dep["kind"].as_str() != Some("dev"))
}

/// The name a dependency has in its dependent's features: its `rename`, else
/// its package name.
fn key(dep: &Value) -> &str {
    dep["rename"]
        .as_str()
        .unwrap_or_else(|| dep["name"].as_str().unwrap())
}

/// The optional dependencies (by [`key`]) that `features` turn on in
/// `package`, following feature to feature.
fn optional_deps_enabled(package: &Value, features: &BTreeSet<String>) -> BTreeSet<String> {
    let table = package["features"].as_object().unwrap();
    let mut seen = BTreeSet::new();
    let mut enabled = BTreeSet::new();
    let mut queue: Vec<String> = features.iter().cloned().collect();
    while let Some(feature) = queue.pop() {
        if !seen.insert(feature.clone()) {
            continue;
        }
        let Some(entries) = table.get(&feature) else {
            // an optional dependency's implicit feature
            enabled.insert(feature);
            continue;
        };
        for entry in entries.as_array().unwrap() {
            let entry = entry.as_str().unwrap();
            if let Some(dep) = entry.strip_prefix("dep:") {
                enabled.insert(dep.to_owned());
            } else if let Some((dep, _)) = entry.split_once('/') {
                // `dep?/feature` does not turn `dep` on
                if !dep.ends_with('?') {
                    enabled.insert(dep.to_owned());
                }
            } else {
                queue.push(entry.to_owned());
            }
        }
    }
    enabled
}

/// Why a dependency edge of a workspace member is followed: a manifest
/// entry that is not optional, or optional and turned on by `features`.
/// Returns the features the entry asks of the dependency, or `None` when
/// the edge is off.
fn edge_features(
    package: &Value,
    features: &BTreeSet<String>,
    dep_name: &str,
) -> Option<BTreeSet<String>> {
    let enabled = optional_deps_enabled(package, features);
    let mut asked: Option<BTreeSet<String>> = None;
    for dep in built_dependencies(package).filter(|d| d["kind"].is_null()) {
        if dep["name"] != dep_name {
            continue;
        }
        if dep["optional"].as_bool().unwrap() && !enabled.contains(key(dep)) {
            continue;
        }
        let set = asked.get_or_insert_with(BTreeSet::new);
        if dep["uses_default_features"].as_bool().unwrap() {
            set.insert("default".to_owned());
        }
        for feature in dep["features"].as_array().unwrap() {
            set.insert(feature.as_str().unwrap().to_owned());
        }
    }
    asked
}

/// The normal dependency tree of `root` built with its default features:
/// each package reached, with the package it was first reached from.
///
/// Workspace members' optional dependencies are followed only when the
/// features asked of them within this tree turn them on (so schema's
/// `client` dependencies, which the CLI turns on for the whole workspace,
/// do not count against crates that do not ask for `client`). Other
/// packages' edges are taken from the workspace's resolve, whose features
/// are unified across the workspace: a false alarm there names the feature
/// some other crate turns on.
fn normal_tree(ws: &Workspace, root: &str) -> HashMap<String, Option<String>> {
    let root_id = ws.members[root].clone();
    let mut reached: HashMap<String, Option<String>> = HashMap::new();
    let mut features: HashMap<String, BTreeSet<String>> = HashMap::new();
    reached.insert(root_id.clone(), None);
    features.insert(root_id.clone(), BTreeSet::from(["default".to_owned()]));
    let mut queue = VecDeque::from([root_id]);
    while let Some(id) = queue.pop_front() {
        let package = ws.package(&id);
        for dep in ws.nodes[&id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|kind| kind["kind"].is_null());
            if !normal {
                continue;
            }
            let dep_id = dep["pkg"].as_str().unwrap().to_owned();
            let dep_name = name(ws.package(&dep_id)).to_owned();
            let asked = if ws.is_member(&id) {
                match edge_features(package, &features[&id], &dep_name) {
                    Some(asked) => asked,
                    None => continue,
                }
            } else {
                BTreeSet::new()
            };
            let first = !reached.contains_key(&dep_id);
            if first {
                reached.insert(dep_id.clone(), Some(id.clone()));
            }
            let grew = if ws.is_member(&dep_id) {
                let have = features.entry(dep_id.clone()).or_default();
                let before = have.len();
                have.extend(asked);
                have.len() > before
            } else {
                false
            };
            if first || grew {
                queue.push_back(dep_id);
            }
        }
    }
    reached
}

/// The packages through which `id` was reached, nearest first.
fn ancestors<'a>(
    reached: &'a HashMap<String, Option<String>>,
    id: &'a str,
) -> impl Iterator<Item = &'a str> {
    std::iter::successors(reached.get(id).and_then(Option::as_deref), |at| {
        reached.get(*at).and_then(Option::as_deref)
    })
}

/// `root -> a -> b -> package`, by package names.
fn path_to(ws: &Workspace, reached: &HashMap<String, Option<String>>, id: &str) -> String {
    let mut names: Vec<&str> = std::iter::once(id)
        .chain(ancestors(reached, id))
        .map(|at| name(ws.package(at)))
        .collect();
    names.reverse();
    names.join(" -> ")
}

fn layer_of(crate_name: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&crate_name))
}

#[test]
fn pure_crates_pull_in_no_io_or_async_crate() {
    let ws = Workspace::load();
    let mut problems = Vec::new();
    for &root in PURE {
        let reached = normal_tree(&ws, root);
        let impure = |id: &str| IMPURE.contains(&name(ws.package(id)));
        // the first impure crate on each path, not the ones it brings
        let mut found: Vec<String> = reached
            .keys()
            .filter(|id| impure(id) && !ancestors(&reached, id).any(impure))
            .map(|id| path_to(&ws, &reached, id))
            .collect();
        found.sort();
        for path in found {
            problems.push(format!("{root} pulls in an I/O or async crate: {path}"));
        }
    }
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md: the pure crates ({}) do no I/O and pull in no async runtime, HTTP \
         or database crate (schema's network code is behind its opt-in `client` feature), \
         but:\n  {}\nMove the code that needs it to a crate above (transport, store, gateway), \
         or put the dependency behind an opt-in feature.",
        PURE.join(", "),
        problems.join("\n  ")
    );
}

#[test]
fn dependencies_point_down_the_layers() {
    let ws = Workspace::load();
    let mut problems = Vec::new();
    let mut members: Vec<&String> = ws.members.keys().collect();
    members.sort();
    for member in members {
        let package = ws.package(&ws.members[member]);
        let tollgate_deps = built_dependencies(package)
            .filter(|dep| ws.members.contains_key(dep["name"].as_str().unwrap()));
        if member == TESTKIT {
            for dep in tollgate_deps {
                problems.push(format!(
                    "{TESTKIT} depends on {}: the mock must not share our crates' types or bugs",
                    dep["name"].as_str().unwrap()
                ));
            }
            continue;
        }
        if TEST_ONLY.contains(&member.as_str()) {
            for dep in tollgate_deps {
                problems.push(format!(
                    "{member} is test-only, but depends on {} ({}): make it a dev-dependency",
                    dep["name"].as_str().unwrap(),
                    dep["kind"].as_str().unwrap_or("normal")
                ));
            }
            if package["publish"] != serde_json::json!([]) {
                problems.push(format!("{member} is test-only: set `publish = false`"));
            }
            continue;
        }
        let Some(layer) = layer_of(member) else {
            problems.push(format!(
                "{member} is in no layer: add it to LAYERS in tests/tidy.rs and to the \
                 dependency direction in ARCHITECTURE.md"
            ));
            continue;
        };
        for dep in tollgate_deps {
            let dep_name = dep["name"].as_str().unwrap();
            let kind = dep["kind"].as_str().unwrap_or("normal");
            if TEST_ONLY.contains(&dep_name) {
                problems.push(format!(
                    "{member} depends on {dep_name} ({kind}), a test-only crate nothing may use"
                ));
            } else if dep_name == TESTKIT {
                let (library, feature) = TESTKIT_FEATURE;
                let optional = dep["optional"].as_bool().unwrap();
                let entry = format!("dep:{}", key(dep));
                let behind_feature = package["features"][feature]
                    .as_array()
                    .is_some_and(|entries| entries.iter().any(|e| e.as_str() == Some(&entry)));
                let is_binary = layer == LAYERS.len() - 1;
                let is_dev_feature = member == library && optional && behind_feature;
                if !(is_binary || is_dev_feature) {
                    problems.push(format!(
                        "{member} depends on {TESTKIT} ({kind}): only the binaries may, and \
                         {library} only as an optional dependency of its `{feature}` feature; \
                         make it a dev-dependency"
                    ));
                }
            } else if layer_of(dep_name).is_none_or(|dep_layer| dep_layer >= layer) {
                problems.push(format!(
                    "{member} depends on {dep_name} ({kind}), which is not in a lower layer"
                ));
            }
        }
    }
    let order: Vec<String> = LAYERS.iter().map(|layer| layer.join(", ")).collect();
    assert!(
        problems.is_empty(),
        "dependencies must point down the layers ({}; {TESTKIT} depends on nothing of ours), \
         as ARCHITECTURE.md says, but:\n  {}",
        order.join(" < "),
        problems.join("\n  ")
    );
}

/// HTTP server crates: what writes responses, headers and SSE framing
/// towards clients.
const HTTP_SERVER: &[&str] = &["axum", "axum-core", "tower-http"];

/// HTTP crates that are both client and server: allowed below the gateway
/// as clients only (transport's upstream client drives hyper's client
/// connections itself), that is without these features.
const HTTP_BOTH: &[&str] = &["hyper", "hyper-util"];
const SERVER_FEATURES: &[&str] = &["server", "server-auto", "server-graceful", "service"];

#[test]
fn only_the_gateway_serves_http() {
    let ws = Workspace::load();
    let gateway = layer_of("tollgate-gateway").unwrap();
    let mut problems = Vec::new();
    for (member, id) in &ws.members {
        if layer_of(member).is_none_or(|layer| layer >= gateway) {
            continue; // the gateway, the binaries, and the test kit's mock servers
        }
        for dep in built_dependencies(ws.package(id)) {
            let dep_name = dep["name"].as_str().unwrap();
            if HTTP_SERVER.contains(&dep_name) {
                problems.push(format!("{member} depends on {dep_name}"));
            }
            if HTTP_BOTH.contains(&dep_name) {
                let features: Vec<&str> = dep["features"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|f| f.as_str())
                    .filter(|f| SERVER_FEATURES.contains(f))
                    .collect();
                let defaults = dep["uses_default_features"].as_bool() != Some(false);
                if !features.is_empty() || (defaults && dep_name == "hyper-util") {
                    problems.push(format!(
                        "{member} depends on {dep_name} as a server (features {features:?}{})",
                        if defaults { ", default features" } else { "" }
                    ));
                }
            }
        }
    }
    problems.sort();
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md: responses, headers and SSE framing towards clients are the \
         gateway's; the crates below it may classify errors and suggest a status, but \
         depend on no HTTP server crate ({}; {} as clients only):\n  {}",
        HTTP_SERVER.join(", "),
        HTTP_BOTH.join(", "),
        problems.join("\n  ")
    );
}

/// The gateway's modules in layers: `config` imports none of the others; the domain (`books`, `pipeline`, `limits`, ...) never
/// imports the HTTP layer (`routes`); only `lib.rs` wires them together.
#[test]
fn gateway_modules_are_layered_without_cycles() {
    let src = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/crates/gateway/src"));
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read the gateway's sources") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20, "found the gateway's sources: {files:?}");
    let mut wrong = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&path).expect("read a source file");
        let forbidden: &[&str] = if rel == "lib.rs" || rel.starts_with("routes/") {
            &[]
        } else if rel == "config.rs" {
            &[
                "crate::routes",
                "crate::pipeline",
                "crate::books",
                "crate::state",
            ]
        } else {
            &["crate::routes"]
        };
        for f in forbidden {
            if text.contains(f) {
                wrong.push(format!("{rel} uses {f}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "upward imports in the gateway: {wrong:#?}"
    );
}

/// Every gateway module ARCHITECTURE.md names (`pipeline::hold`,
/// `books::writer`, ...) and every transport module (`transport::h1`)
/// exists, so the map cannot drift from the code.
#[test]
fn architecture_names_only_modules_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("read ARCHITECTURE.md");
    let src = root.join("crates/gateway/src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("read the gateway's lib.rs");
    let tops = [
        "gateway", "pipeline", "books", "limits", "observe", "routes",
    ];
    let mut named = 0;
    let mut missing = Vec::new();
    for span in text.split('`').skip(1).step_by(2) {
        let mut path: Vec<&str> = span.split("::").collect();
        let lowercase =
            |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        if path.len() < 2
            || !(tops.contains(&path[0]) || path[0] == "transport")
            || !path.iter().all(lowercase)
        {
            continue;
        }
        let src = if path[0] == "transport" {
            path.remove(0);
            root.join("crates/transport/src")
        } else {
            if path[0] == "gateway" {
                path.remove(0);
            }
            src.clone()
        };
        named += 1;
        let module = |parts: &[&str]| {
            let dir = parts.iter().fold(src.clone(), |d, p| d.join(p));
            dir.with_extension("rs").exists() || dir.join("mod.rs").exists()
        };
        // A module, an item of a module, or an item of lib.rs.
        let found = module(&path)
            || (path.len() > 1 && module(&path[..path.len() - 1]))
            || (path.len() == 1 && lib.contains(&format!("fn {}(", path[0])));
        if !found {
            missing.push(span.to_owned());
        }
    }
    assert!(
        named >= 10,
        "ARCHITECTURE.md names the gateway's modules ({named} found)"
    );
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names modules that do not exist: {missing:?}"
    );
}
