//! Names and paths of the files the runner handles: key directories, checkpoints, archives
//! and their members, and upload excludes. Pure name rules, so both sides agree on them.

/// `s` with every character but ASCII letters, digits, `.`, `-` and `_` replaced by `with`:
/// safe as a file name, a tar member, a container or job name part.
pub fn file_safe(s: &str, with: char) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                with
            }
        })
        .collect()
}

/// A file-system-safe name for a key: `dataset.train[0]` → `dataset_train_0`.
pub fn key_dir_name(key: &str) -> String {
    let mut s: String = key
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let s = s.trim_matches('_').to_string();
    if s.is_empty() { "data".into() } else { s }
}

/// Checkpoint extensions a pretrained model's spec value points at (TAO's rule: a model
/// fetched from NGC or the Hub is addressed by its first weights file, else its directory).
pub const WEIGHTS_EXTENSIONS: &[&str] = &[".pth.tar", ".pth", ".pt", ".ckpt", ".hdf5", ".tlt"];

/// Whether a file name is a checkpoint in the sense of [`WEIGHTS_EXTENSIONS`].
pub fn is_weights_file(name: &str) -> bool {
    WEIGHTS_EXTENSIONS.iter().any(|e| name.ends_with(e))
}

/// An archive the runner unpacks after download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archive {
    /// `.tar`.
    Tar,
    /// `.tgz` / `.tar.gz`.
    TarGz,
}

/// The archive kind of a file name, and the name without its extension.
pub fn archive_of(name: &str) -> Option<(Archive, &str)> {
    for (ext, kind) in [
        (".tar.gz", Archive::TarGz),
        (".tgz", Archive::TarGz),
        (".tar", Archive::Tar),
    ] {
        if let Some(stem) = name.strip_suffix(ext)
            && !stem.is_empty()
        {
            return Some((kind, stem));
        }
    }
    None
}

/// An archive member's path, if it stays inside the target directory: relative, no `..`.
/// Leading `./` is dropped.
pub fn safe_member_path(path: &str) -> Option<String> {
    if path.starts_with('/') || path.contains('\0') {
        return None;
    }
    let mut parts = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// The excludes (in [`exclude_matches`]' terms) that an ignore file (`.skyignore`,
/// `.gitignore`) at the root of a shipped directory lists. Comments and blanks are skipped; a
/// leading `/` or an inner `/` anchors to the root; a trailing `/` means a directory's
/// contents. Negations (`!keep`) cannot be expressed as excludes and are returned apart, so
/// the caller can say they were not honoured.
pub fn ignore_file_excludes(text: &str) -> (Vec<String>, Vec<String>) {
    let mut out = Vec::new();
    let mut negated = Vec::new();
    for line in text.lines() {
        let l = line.trim_end();
        if l.trim().is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(n) = l.strip_prefix('!') {
            negated.push(n.to_string());
            continue;
        }
        let dir_only = l.ends_with('/');
        let p = l.trim_end_matches('/');
        let anchored = p.starts_with('/') || p.contains('/');
        let p = p.trim_start_matches('/');
        if p.is_empty() {
            continue;
        }
        let mut add = |s: String| {
            if !out.contains(&s) {
                out.push(s);
            }
        };
        if !dir_only {
            add(p.to_string());
        }
        add(format!("{p}/*"));
        if !anchored {
            add(format!("*/{p}/*"));
            if !dir_only && p.contains('*') {
                add(format!("*/{p}"));
            }
        }
    }
    (out, negated)
}

/// fnmatch-style matching for upload excludes: `*` and `?` match any character (`/`
/// included, as Python's fnmatch does), `[abc]`/`[!abc]` a set. A pattern without `/` is
/// also tried against the file name alone, so `*.ckpt` excludes checkpoints at any depth.
pub fn exclude_matches(pattern: &str, rel_path: &str) -> bool {
    let name = rel_path.rsplit('/').next().unwrap_or(rel_path);
    glob(pattern.as_bytes(), rel_path.as_bytes())
        || (!pattern.contains('/') && glob(pattern.as_bytes(), name.as_bytes()))
}

// Iterative, backtracking only to the last `*`: ignore files are user text, and a recursive
// matcher overflowed the stack on a long line and took exponential time on many stars.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    // After the last `*` seen: where the pattern goes on, and how much of `s` the star took.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if p.get(pi) == Some(&b'*') {
            star = Some((pi + 1, si));
            pi += 1;
            continue;
        }
        if let Some(next) = glob_step(p, pi, s[si]) {
            pi = next;
            si += 1;
            continue;
        }
        let Some((after, took)) = star else {
            return false;
        };
        // Let the star take one more byte and try the rest again.
        star = Some((after, took + 1));
        pi = after;
        si = took + 1;
    }
    p[pi.min(p.len())..].iter().all(|&c| c == b'*')
}

/// Where the pattern goes on if its element at `pi` (`?`, a `[set]` or a byte) matches `c`.
fn glob_step(p: &[u8], pi: usize, c: u8) -> Option<usize> {
    match *p.get(pi)? {
        b'?' => Some(pi + 1),
        b'[' => {
            // An unclosed `[` is a literal one.
            let Some(end) = p[pi + 1..]
                .iter()
                .position(|&x| x == b']')
                .map(|i| pi + 1 + i)
            else {
                return (c == b'[').then_some(pi + 1);
            };
            let (neg, set) = match p[pi + 1..end].split_first() {
                Some((b'!', rest)) => (true, rest),
                _ => (false, &p[pi + 1..end]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            (hit != neg).then_some(end + 1)
        }
        x => (x == c).then_some(pi + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_files_as_excludes() {
        let (ex, neg) =
            ignore_file_excludes("# c\n\n*.pyc\n/build\ndata/\nsub/out.txt\n!keep.pyc\n");
        assert_eq!(neg, vec!["keep.pyc"]);
        let hit = |rel: &str| ex.iter().any(|p| exclude_matches(p, rel));
        assert!(hit("a.pyc") && hit("x/y/a.pyc"));
        assert!(hit("build") && hit("build/x/y.o") && !hit("src/build/x.o"));
        assert!(
            hit("data/a") && hit("x/data/a") && !hit("data"),
            "a directory's contents only"
        );
        assert!(hit("sub/out.txt") && !hit("x/sub/out.txt"));
        assert!(!hit("train.py") && !hit("databases/a"));
    }

    #[test]
    fn names_archives_members_and_excludes() {
        assert_eq!(
            key_dir_name("dataset.train[0].path"),
            "dataset_train_0_path"
        );
        assert_eq!(key_dir_name("/results/"), "results");
        assert_eq!(archive_of("data.tar.gz"), Some((Archive::TarGz, "data")));
        assert_eq!(archive_of("x.tgz"), Some((Archive::TarGz, "x")));
        assert_eq!(archive_of("x.tar"), Some((Archive::Tar, "x")));
        assert_eq!(archive_of(".tar"), None);
        assert_eq!(safe_member_path("./a/b"), Some("a/b".into()));
        for bad in ["../x", "a/../../x", "/etc/passwd", "a/.."] {
            assert_eq!(safe_member_path(bad), None, "{bad}");
        }
        assert!(exclude_matches("*.ckpt", "deep/dir/m.ckpt"));
        assert!(exclude_matches("logs/*", "logs/a/b.txt"));
        assert!(!exclude_matches("logs/*", "x/logs/a"));
        assert!(exclude_matches("f[0-9].txt", "f7.txt"));
        assert!(!exclude_matches("f[!0-9].txt", "f7.txt"));
        assert!(!exclude_matches("*.pth", "model.pt"));
        assert!(exclude_matches("a*b*c", "a/x/b/y/c") && !exclude_matches("a*b*c", "a/x/c/b"));
        assert!(exclude_matches("[ab", "[ab") && exclude_matches("x[!]y", "x/y"));
    }

    /// Found by the archive_paths fuzz target: a long ignore-file line overflowed the
    /// recursive matcher's stack (an abort, not an error), and many stars took exponential
    /// time.
    #[test]
    fn long_and_starry_patterns_end() {
        let long = "a".repeat(200_000);
        assert!(exclude_matches(&long, &long));
        let stars = format!("{}b", "*a".repeat(40));
        assert!(!exclude_matches(&stars, &"a".repeat(200)));
    }
}
