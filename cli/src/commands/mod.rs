//! One module per subcommand of `private-uploads`; `main.rs` parses the arguments and calls
//! the module's `run`.

use std::path::{Path, PathBuf};

pub mod keygen;
pub mod rotate_key;
pub mod sign_url;
pub mod token;
pub mod up;

/// The checkout `up` belongs to, where `.venv/` and `.local/` go whatever the current
/// directory: the workspace this binary was built from while it still holds
/// `template.yaml`, else the current directory.
pub fn checkout() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if built.join("template.yaml").is_file() {
        built.canonicalize().unwrap_or(built)
    } else {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
    }
}

/// `text` as one shell word: quoted when it holds anything a shell would split or expand.
pub fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@+,".contains(&b));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_spaces_and_quotes() {
        assert_eq!(shell_word("/tmp/a-b_c.d"), "/tmp/a-b_c.d");
        assert_eq!(shell_word("/tmp/my dir"), "'/tmp/my dir'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
