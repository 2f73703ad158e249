//! `docs/architecture.md` kept true: every source file it names exists, and its map ("Where
//! the code is") names every room of `shared/src` and every module of the domain. Reads the
//! sources and the doc.

use std::path::{Path, PathBuf};

#[allow(dead_code)] // this test reads no test modules
mod support;
use support::sources;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Each `` `…` `` span of `text` that names a file: a path ending in a source extension.
fn named_files(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|span| span.split_whitespace().next())
        .filter(|word| {
            [".rs", ".mjs", ".js", ".yaml", ".toml"]
                .iter()
                .any(|ext| word.ends_with(ext))
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_architecture_doc_names_what_exists_and_every_room() {
    let root = workspace();
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let mut files = Vec::new();
    sources(&root.join("shared/src"), &mut files);
    sources(&root.join("cli/src"), &mut files);
    for function in std::fs::read_dir(root.join("functions")).unwrap() {
        sources(&function.unwrap().path().join("src"), &mut files);
    }
    let files_named = named_files(&doc);
    assert!(
        files_named.len() > 20,
        "only {} files named",
        files_named.len()
    );
    let mut missing = Vec::new();
    for name in &files_named {
        let whole = root.join(name).exists();
        let as_tail = files.iter().any(|f| f.ends_with(name));
        if !whole && !as_tail {
            missing.push(name.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "docs/architecture.md names files that do not exist: {missing:?}"
    );
    let map = doc
        .split("## Where the code is")
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .expect("a code block under \"## Where the code is\"");
    let words: Vec<&str> = map
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    let named = |word: &str| words.contains(&word);
    let shown = |path: &Path| path.file_stem().unwrap().to_string_lossy().into_owned();
    let mut unnamed = Vec::new();
    for entry in std::fs::read_dir(root.join("shared/src")).unwrap() {
        let room = shown(&entry.unwrap().path());
        if room != "lib" && !named(&room) {
            unnamed.push(room);
        }
    }
    for entry in std::fs::read_dir(root.join("shared/src/domain")).unwrap() {
        let module = shown(&entry.unwrap().path());
        if module != "mod" && !named(&module) {
            unnamed.push(format!("domain/{module}"));
        }
    }
    assert!(
        unnamed.is_empty(),
        "docs/architecture.md does not name these rooms or domain modules: {unnamed:?}"
    );
}
