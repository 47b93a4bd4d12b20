//! jsonschema's `best_match`: which sub-error of an `anyOf`/`oneOf` failure is reported, by
//! its relevance rule, and the error's path as a JSONPath.

use super::iter::{PathElem, VError};

/// jsonschema's `relevance` key: deeper first, then earlier path, then non-anyOf/oneOf, then
/// errors whose instance at least has the schema's type. Smaller sorts first.
pub(super) fn relevance(e: &VError) -> (isize, &[PathElem], bool, bool) {
    (
        -(e.path.len() as isize),
        &e.path,
        !matches!(e.keyword, "anyOf" | "oneOf"),
        !e.matches_type,
    )
}

pub(super) fn cmp_relevance(a: &VError, b: &VError) -> std::cmp::Ordering {
    let (ra, rb) = (relevance(a), relevance(b));
    ra.0.cmp(&rb.0)
        .then_with(|| ra.1.partial_cmp(rb.1).unwrap_or(std::cmp::Ordering::Equal))
        .then(ra.2.cmp(&rb.2))
        .then(ra.3.cmp(&rb.3))
}

pub(super) fn same_key(a: &VError, b: &VError) -> bool {
    cmp_relevance(a, b) == std::cmp::Ordering::Equal
}

pub(super) fn key_lt(a: &VError, b: &VError) -> bool {
    cmp_relevance(a, b) == std::cmp::Ordering::Less
}

/// `best_match([e])`: descend into `anyOf`/`oneOf` contexts while one sub-error is strictly the
/// most relevant. Returns the chosen error and its path from the validated root.
pub(super) fn best_match(e: &VError) -> (&VError, Vec<PathElem>) {
    let mut best = e;
    let mut path = e.path.clone();
    while !best.context.is_empty() {
        // heapq.nsmallest(2, ...) is stable: among equal keys the earlier error comes first.
        let mut first: Option<&VError> = None;
        let mut second: Option<&VError> = None;
        for c in &best.context {
            match first {
                None => first = Some(c),
                Some(f) if key_lt(c, f) => {
                    second = first;
                    first = Some(c);
                }
                Some(_) => match second {
                    None => second = Some(c),
                    Some(s) if key_lt(c, s) => second = Some(c),
                    Some(_) => {}
                },
            }
        }
        let Some(f) = first else { break };
        if let Some(s) = second
            && same_key(f, s)
        {
            break;
        }
        path.extend(f.path.iter().cloned());
        best = f;
    }
    (best, path)
}

pub(super) fn json_path(path: &[PathElem]) -> String {
    let mut out = String::from("$");
    for elem in path {
        match elem {
            PathElem::Index(i) => out.push_str(&format!("[{i}]")),
            PathElem::Key(k) => {
                let simple = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if simple {
                    out.push('.');
                    out.push_str(k);
                } else {
                    let escaped = k.replace('\\', "\\\\").replace('\'', "\\'");
                    out.push_str(&format!("['{escaped}']"));
                }
            }
        }
    }
    out
}
