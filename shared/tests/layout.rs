//! The crate's plan, checked: which room may import which, a pure domain, and no two modules
//! importing each other in a loop. Reads the sources; test modules are left out, since they
//! may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod support;
use support::{sources, without_tests};

/// Each room and the rooms it may import from (itself included).
const ALLOWED: [(&str, &[&str]); 10] = [
    ("domain", &["domain"]),
    ("ports", &["domain", "ports"]),
    ("config", &["domain", "config"]),
    ("pyjson", &["pyjson"]),
    ("metrics", &["metrics"]),
    ("s3_signing", &["domain", "pyjson", "s3_signing"]),
    (
        "cloudfront",
        &["domain", "ports", "pyjson", "metrics", "cloudfront"],
    ),
    ("aws", &["domain", "ports", "metrics", "aws"]),
    (
        "http",
        &[
            "domain",
            "ports",
            "s3_signing",
            "cloudfront",
            "metrics",
            "http",
        ],
    ),
    ("logging", &["metrics", "logging"]),
];

/// Words the pure domain must not contain outside its tests.
const IMPURE: [&str; 5] = [
    "tokio",
    "aws_sdk",
    "aws_config",
    "aws_smithy",
    "lambda_http",
];

/// A source file as a module path: `domain/ids.rs` → ["domain", "ids"], `ports/mod.rs` →
/// ["ports"].
fn module_of(file: &Path, src: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The code of a file: without its `#[cfg(test)]` module (last in every file here) and
/// without comments, which may name any path.
fn code(text: &str) -> String {
    without_tests(text)
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b…` and `super::…` path in `text`, made absolute, as segments; a group
/// (`crate::{a::X, b::{Y, Z}}`) counts as each of its paths.
fn paths(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for prefix in ["crate::", "super::"] {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let base = if prefix == "super::" {
                module[..module.len().saturating_sub(1)].to_vec()
            } else {
                Vec::new()
            };
            for path in expand(rest) {
                let mut absolute = base.clone();
                absolute.extend(path);
                out.push(absolute);
            }
        }
    }
    out
}

/// The paths a `use` tail names: `a::b::C` → [[a, b, C]]; `{a::X, b::{Y}}` → [[a, X], [b, Y]].
fn expand(tail: &str) -> Vec<Vec<String>> {
    let head: String = tail
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let prefix: Vec<String> = head
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let after = &tail[head.len()..];
    if !after.starts_with('{') {
        return vec![prefix];
    }
    // The group's items, split at top-level commas.
    let (mut depth, mut start, mut items) = (0, 1, Vec::new());
    for (i, c) in after.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    items.push(&after[start..i]);
                    break;
                }
            }
            ',' if depth == 1 => {
                items.push(&after[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
        .into_iter()
        .map(str::trim)
        .filter(|item| !item.is_empty() && *item != "self")
        .flat_map(|item| {
            expand(item).into_iter().map(|tail| {
                let mut path = prefix.clone();
                path.extend(tail);
                path
            })
        })
        .collect()
}

struct Crate {
    /// Module path → the file's code.
    files: BTreeMap<Vec<String>, String>,
}

impl Crate {
    fn of(files: &[(&[&str], &str)]) -> Self {
        Self {
            files: files
                .iter()
                .map(|(module, text)| {
                    (module.iter().map(|s| (*s).to_owned()).collect(), code(text))
                })
                .collect(),
        }
    }

    fn read() -> Self {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        sources(&src, &mut found);
        let files = found
            .iter()
            .map(|file| {
                let text = std::fs::read_to_string(file).unwrap_or_default();
                (module_of(file, &src), code(&text))
            })
            .collect();
        Self { files }
    }

    /// The module a path lands in: its longest prefix that is a file.
    fn target(&self, path: &[String]) -> Vec<String> {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|prefix| self.files.contains_key(prefix))
            .unwrap_or_default()
    }

    /// Module → the modules it uses, leaving out a parent's own declarations and re-exports
    /// of its children (structure, not dependency).
    fn edges(&self) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
        let mut edges = BTreeMap::new();
        for (module, text) in &self.files {
            let mut targets = BTreeSet::new();
            for path in paths(text, module) {
                let target = self.target(&path);
                let own_child = target.len() > module.len() && target.starts_with(module);
                if target != *module && !own_child && !target.is_empty() {
                    targets.insert(target);
                }
            }
            edges.insert(module.clone(), targets);
        }
        edges
    }
}

#[test]
fn rooms_import_only_the_rooms_below_them() {
    let krate = Crate::read();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.into_iter().collect();
    let mut problems = Vec::new();
    for (module, targets) in krate.edges() {
        let Some(room) = module.first() else { continue };
        let Some(may) = allowed.get(room.as_str()) else {
            problems.push(format!("{} is in no room of the plan", module.join("::")));
            continue;
        };
        for target in targets {
            let Some(other) = target.first() else {
                continue;
            };
            if !may.contains(&other.as_str()) {
                problems.push(format!(
                    "{} imports {} ({room} may import only {may:?})",
                    module.join("::"),
                    target.join("::")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_domain_is_pure() {
    let krate = Crate::read();
    let mut problems = Vec::new();
    for (module, text) in &krate.files {
        if module.first().map(String::as_str) != Some("domain") {
            continue;
        }
        for word in IMPURE {
            if text.contains(word) {
                problems.push(format!("{} mentions {word}", module.join("::")));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn no_two_modules_import_each_other_in_a_loop() {
    let edges = Crate::read().edges();
    // Depth-first search for a back edge; report the loop it closes.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        loops: &mut Vec<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(at) = stack.iter().position(|n| n == node) {
            let cycle: Vec<String> = stack[at..].iter().map(|m| m.join("::")).collect();
            loops.push(format!("{} → {}", cycle.join(" → "), node.join("::")));
            return;
        }
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, stack, done, loops);
        }
        stack.pop();
        done.insert(node.clone());
    }
    let (mut done, mut loops) = (BTreeSet::new(), Vec::new());
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done, &mut loops);
    }
    assert!(loops.is_empty(), "import loops: {loops:#?}");
}

#[test]
fn the_checks_see_what_they_check() {
    // Guards against a parser that finds nothing and so passes everything.
    let krate = Crate::read();
    let edges = krate.edges();
    let has = |edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>, from: &[&str], to: &[&str]| {
        let from: Vec<String> = from.iter().map(|s| (*s).to_owned()).collect();
        let to: Vec<String> = to.iter().map(|s| (*s).to_owned()).collect();
        edges.get(&from).is_some_and(|t| t.contains(&to))
    };
    assert!(krate.files.len() >= 25, "{} files", krate.files.len());
    assert!(has(&edges, &["aws", "dynamodb"], &["domain", "record"]));
    assert!(
        has(&edges, &["ports", "objects"], &["ports"]),
        "super::StoreError"
    );
    assert!(has(&edges, &["http", "error"], &["ports"]));
    let with_tests = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain/ownership.rs"),
    )
    .unwrap_or_default();
    assert!(with_tests.contains("mod tests"));
    assert!(
        !code(&with_tests).contains("mod tests"),
        "test modules are left out"
    );

    // On made-up files: a parent's own re-exports are structure, a grouped import counts
    // as each of its paths, a comment counts as nothing.
    let made_up = Crate::of(&[
        (
            &["ports"],
            "pub use crate::ports::objects::X;\npub struct StoreError;",
        ),
        (
            &["ports", "objects"],
            "use super::StoreError;\n// crate::http::Nothing",
        ),
        (
            &["domain"],
            "use crate::{ports::StoreError, aws::{s3::A, dynamodb::B}};",
        ),
        (&["aws"], ""),
        (&["aws", "s3"], ""),
        (&["aws", "dynamodb"], ""),
        (&["http"], ""),
    ]);
    let edges = made_up.edges();
    assert!(!has(&edges, &["ports"], &["ports", "objects"]));
    assert!(has(&edges, &["ports", "objects"], &["ports"]));
    assert!(!has(&edges, &["ports", "objects"], &["http"]));
    assert!(has(&edges, &["domain"], &["ports"]));
    assert!(has(&edges, &["domain"], &["aws", "s3"]));
    assert!(has(&edges, &["domain"], &["aws", "dynamodb"]));
}
