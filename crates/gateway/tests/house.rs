//! The gateway's house rules, read off the source (issue 16): imports go one
//! way between top-level modules, `listing/` and `providers/` know no axum,
//! and only the app builder (lib.rs) and `routes/` itself name `routes`.
//!
//! The module graph comes from `crate::<module>` references in src/**/*.rs
//! (main.rs is a separate crate and names `isogate::`). There is no cycle:
//! any edge that closes one fails, naming the modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`lib` for lib.rs).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// Every `crate::<name>` a source text refers to (comments included: a doc
/// link to another module is a dependency a reader follows too).
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        if at > 0 && text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `isogate_crate::`
        }
        let rest = &text[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            refs.insert(name);
        }
    }
    refs
}

struct House {
    /// module -> modules it refers to.
    graph: BTreeMap<String, BTreeSet<String>>,
    /// (file, text) of every source file.
    files: Vec<(PathBuf, String)>,
    src: PathBuf,
}

fn house() -> House {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    paths.sort();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    for path in paths {
        let module = module_of(&src, &path);
        let text = std::fs::read_to_string(&path).expect("read a source file");
        if module != "main" {
            let refs = crate_refs(&text);
            let edges = graph.entry(module.clone()).or_default();
            edges.extend(refs.into_iter().filter(|r| *r != module));
        }
        files.push((path, text));
    }
    House { graph, files, src }
}

/// The cycles of `graph` (as strongly connected components of 2+ modules).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    // Reachability closure: small graphs, so the plain way.
    let nodes: Vec<&String> = graph.keys().collect();
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(n) = stack.pop() {
            for m in graph.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    stack.push(m.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for n in &nodes {
        let scc: BTreeSet<String> = nodes
            .iter()
            .filter(|m| *m == n || (reaches[*n].contains(**m) && reaches[*m].contains(*n)))
            .map(|m| (*m).clone())
            .collect();
        if scc.len() > 1 && !out.contains(&scc) {
            out.push(scc);
        }
    }
    out
}

#[test]
fn imports_between_modules_go_one_way() {
    let house = house();
    let found = cycles(&house.graph);
    assert!(
        found.is_empty(),
        "import cycles between top-level modules: {found:?} (graph: {:?})",
        house.graph
    );
    // The order README's Layout table states, bottom first: each module may
    // import only those before it.
    let order = [
        "config",
        "access",
        "security",
        "providers",
        "listing",
        "state",
        "http",
        "routes",
        "server",
        "lib",
    ];
    for (module, deps) in &house.graph {
        let Some(at) = order.iter().position(|m| m == module) else {
            panic!(
                "module `{module}` is not in the house's order: add it to README's Layout and here"
            );
        };
        for dep in deps {
            let dep_at = order.iter().position(|m| m == dep);
            assert!(
                dep_at.is_some_and(|d| d < at),
                "`{module}` imports `{dep}`, which is not below it in the house's order {order:?}"
            );
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    graph.entry("d".into()).or_default().insert("a".into());
    let found = cycles(&graph);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0],
        ["a", "b", "c"].iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(
        crate_refs("use crate::listing::cache;\n// [`crate::http`]\nisogate_crate::x"),
        ["http", "listing"].iter().map(|s| s.to_string()).collect()
    );
}

#[test]
fn listing_and_providers_know_no_axum() {
    let house = house();
    for (path, text) in &house.files {
        let module = module_of(&house.src, path);
        if module == "listing" || module == "providers" {
            assert!(
                !text.contains("axum"),
                "{} names axum: {module}/ is not HTTP",
                path.display()
            );
        }
    }
}

#[test]
fn only_the_app_builder_and_routes_name_routes() {
    let house = house();
    for (path, text) in &house.files {
        let module = module_of(&house.src, path);
        if module == "lib" || module == "routes" || module == "main" {
            continue;
        }
        assert!(
            !crate_refs(text).contains("routes"),
            "{} refers to crate::routes: only lib.rs builds the app from the routes",
            path.display()
        );
    }
}

/// The query language's modules (`crates/core/src/query`) go one way too:
/// parsing builds a `Query`, compiling makes its plan, matching and
/// executing use both, and nothing below refers back up.
#[test]
fn the_query_language_has_no_module_cycle() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src/query");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("read core/src/query") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        if name == "mod" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read a query module");
        let mut refs = BTreeSet::new();
        for (at, _) in text.match_indices("super::") {
            let rest = &text[at + "super::".len()..];
            let dep: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !dep.is_empty() && dep != name && dep != "super" && dep != "Query" {
                refs.insert(dep);
            }
        }
        graph.insert(name, refs);
    }
    assert!(graph.contains_key("parse") && graph.contains_key("plan"));
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "query module cycles: {found:?} ({graph:?})"
    );
}
