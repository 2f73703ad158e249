//! Rooms a newcomer can read: in `shared/`, `functions/` and `cli/`, no function is over 80
//! lines and no file over 500 lines of code (test modules, comments and blank lines left
//! out). Reads the sources.

use std::path::{Path, PathBuf};

mod support;
use support::{sources, without_tests};

const MAX_FUNCTION_LINES: usize = 80;
const MAX_FILE_CODE_LINES: usize = 500;

/// Lines that are neither blank nor comments.
fn code_lines(text: &str) -> usize {
    text.lines()
        .map(str::trim_start)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .count()
}

/// Each function with a body, as `(name, first line, lines)`: from its `fn` line to the line
/// that closes its braces.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "fn") else {
            continue;
        };
        let before_ok = words[..at].iter().all(|w| {
            matches!(*w, "pub" | "async" | "const" | "unsafe" | "extern") || w.starts_with("pub(")
        });
        if !before_ok || line.trim_end().ends_with(';') || at + 1 >= words.len() {
            continue;
        }
        let name: String = words[at + 1]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut opened) = (0i64, false);
        for (end, body) in lines.iter().enumerate().skip(start) {
            let opens = body.matches('{').count() as i64;
            depth += opens - body.matches('}').count() as i64;
            opened |= opens > 0;
            if body.trim_end().ends_with(';') && !opened {
                break; // a declaration without a body, over several lines
            }
            if opened && depth <= 0 {
                found.push((name.clone(), start + 1, end - start + 1));
                break;
            }
        }
    }
    found
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn no_long_functions_and_no_large_files() {
    let root = workspace();
    let mut files = Vec::new();
    sources(&root.join("shared/src"), &mut files);
    sources(&root.join("cli/src"), &mut files);
    sources(&root.join("cli/cloudfront-viewer/src"), &mut files);
    for function in std::fs::read_dir(root.join("functions")).unwrap() {
        sources(&function.unwrap().path().join("src"), &mut files);
    }
    assert!(files.len() > 80, "only {} files found", files.len());
    let mut over = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let code = without_tests(&text);
        let shown = file.strip_prefix(&root).unwrap_or(file).display();
        let lines = code_lines(code);
        if lines > MAX_FILE_CODE_LINES {
            over.push(format!("{shown}: {lines} lines of code"));
        }
        for (name, line, length) in functions(code) {
            if length > MAX_FUNCTION_LINES {
                over.push(format!("{shown}:{line} fn {name}: {length} lines"));
            }
        }
    }
    assert!(
        over.is_empty(),
        "over {MAX_FUNCTION_LINES} lines a function or {MAX_FILE_CODE_LINES} lines of code a file:\n{}",
        over.join("\n")
    );
}

#[test]
fn the_measure_sees_what_it_measures() {
    let long_body = "    let x = 1;\n".repeat(MAX_FUNCTION_LINES);
    let text = format!(
        "pub async fn long(\n    a: u8,\n) -> u8 {{\n{long_body}}}\n\nfn short() {{}}\n\
         fn declared(&self);\n// fn in_a_comment() {{\n"
    );
    let found = functions(&text);
    assert_eq!(
        found,
        vec![
            ("long".to_owned(), 1, MAX_FUNCTION_LINES + 4),
            ("short".to_owned(), MAX_FUNCTION_LINES + 6, 1)
        ]
    );
    assert_eq!(code_lines("a\n\n  // b\nc\n"), 2);
    assert_eq!(without_tests("x\n#[cfg(test)]\nmod tests {}\n"), "x\n");
}
