//! Python's `difflib.get_close_matches(word, possibilities, n=1)`: SkyPilot suggests the closest
//! known field for an unknown one with it, so the suggestion must be the one Python picks.

use std::collections::HashMap;

/// The best match scoring at least `cutoff` (SkyPilot uses difflib's default, 0.6). Ties go to
/// the larger string, as Python's `heapq.nlargest` on `(score, word)` tuples does.
pub(crate) fn close_match<'a, I>(word: &str, possibilities: I, cutoff: f64) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let b: Vec<char> = word.chars().collect();
    let matcher = Matcher::new(&b);
    let mut best: Option<(f64, &'a str)> = None;
    for x in possibilities {
        let a: Vec<char> = x.chars().collect();
        let score = matcher.ratio(&a);
        if score < cutoff {
            continue;
        }
        let better = match best {
            None => true,
            Some((s, w)) => score > s || (score == s && x > w),
        };
        if better {
            best = Some((score, x));
        }
    }
    best.map(|(_, w)| w)
}

/// `SequenceMatcher(None, a, b)` with `b` fixed (difflib caches `b`'s index the same way).
struct Matcher<'b> {
    b: &'b [char],
    /// Positions of each element of `b`, ascending; "popular" elements are left out (autojunk).
    b2j: HashMap<char, Vec<usize>>,
}

impl<'b> Matcher<'b> {
    fn new(b: &'b [char]) -> Self {
        let mut b2j: HashMap<char, Vec<usize>> = HashMap::new();
        for (j, c) in b.iter().enumerate() {
            b2j.entry(*c).or_default().push(j);
        }
        // difflib's autojunk heuristic: in sequences of 200+ elements, elements that occur in
        // more than 1% of positions are not indexed.
        if b.len() >= 200 {
            let ntest = b.len() / 100 + 1;
            b2j.retain(|_, idx| idx.len() <= ntest);
        }
        Matcher { b, b2j }
    }

    /// `2 * M / T`, M = matched elements over difflib's matching blocks.
    fn ratio(&self, a: &[char]) -> f64 {
        let total = a.len() + self.b.len();
        if total == 0 {
            return 1.0;
        }
        let mut matched = 0;
        let mut queue = vec![(0, a.len(), 0, self.b.len())];
        while let Some((alo, ahi, blo, bhi)) = queue.pop() {
            let (i, j, k) = self.longest_match(a, alo, ahi, blo, bhi);
            if k > 0 {
                matched += k;
                if alo < i && blo < j {
                    queue.push((alo, i, blo, j));
                }
                if i + k < ahi && j + k < bhi {
                    queue.push((i + k, ahi, j + k, bhi));
                }
            }
        }
        2.0 * matched as f64 / total as f64
    }

    /// difflib's `find_longest_match`: the longest block, earliest in `a`, then earliest in `b`.
    fn longest_match(
        &self,
        a: &[char],
        alo: usize,
        ahi: usize,
        blo: usize,
        bhi: usize,
    ) -> (usize, usize, usize) {
        let (mut besti, mut bestj, mut bestsize) = (alo, blo, 0);
        let mut j2len: HashMap<usize, usize> = HashMap::new();
        for (i, c) in a.iter().enumerate().take(ahi).skip(alo) {
            let mut next: HashMap<usize, usize> = HashMap::new();
            if let Some(js) = self.b2j.get(c) {
                for &j in js {
                    if j < blo {
                        continue;
                    }
                    if j >= bhi {
                        break;
                    }
                    let k = j
                        .checked_sub(1)
                        .and_then(|p| j2len.get(&p))
                        .copied()
                        .unwrap_or(0)
                        + 1;
                    next.insert(j, k);
                    if k > bestsize {
                        besti = i + 1 - k;
                        bestj = j + 1 - k;
                        bestsize = k;
                    }
                }
            }
            j2len = next;
        }
        // Popular elements were not indexed but still match: extend over them both ways.
        while besti > alo && bestj > blo && a[besti - 1] == self.b[bestj - 1] {
            besti -= 1;
            bestj -= 1;
            bestsize += 1;
        }
        while besti + bestsize < ahi
            && bestj + bestsize < bhi
            && a[besti + bestsize] == self.b[bestj + bestsize]
        {
            bestsize += 1;
        }
        (besti, bestj, bestsize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK_FIELDS: &[&str] = &[
        "name",
        "workdir",
        "event_callback",
        "num_nodes",
        "resources",
        "file_mounts",
        "service",
        "pool",
        "setup",
        "run",
        "envs",
        "secrets",
        "managed_secrets",
        "inputs",
        "outputs",
        "file_mounts_mapping",
        "config",
        "volumes",
        "volume_mounts",
        "api_server_access",
        "_metadata",
    ];

    fn suggest(word: &str, fields: &[&'static str]) -> Option<&'static str> {
        close_match(word, fields.iter().copied(), 0.6)
    }

    #[test]
    fn task_field_typos() {
        assert_eq!(suggest("runn", TASK_FIELDS), Some("run"));
        assert_eq!(suggest("setpu", TASK_FIELDS), Some("setup"));
        assert_eq!(suggest("envss", TASK_FIELDS), Some("envs"));
        assert_eq!(suggest("foo", TASK_FIELDS), None);
        assert_eq!(suggest("docker_image", TASK_FIELDS), None);
        assert_eq!(suggest("num_node", TASK_FIELDS), Some("num_nodes"));
    }

    #[test]
    fn other_sections() {
        assert_eq!(
            suggest("accelerator", &["accelerators", "accelerator_args", "cpus"]),
            Some("accelerators")
        );
        assert_eq!(
            suggest(
                "moed",
                &["name", "source", "store", "persistent", "mode", "type"]
            ),
            Some("mode")
        );
    }

    #[test]
    fn ratio_matches_python() {
        // difflib.SequenceMatcher(None, "abcd", "bcde").ratio() == 0.75
        let b: Vec<char> = "bcde".chars().collect();
        let a: Vec<char> = "abcd".chars().collect();
        assert!((Matcher::new(&b).ratio(&a) - 0.75).abs() < 1e-12);
        // SequenceMatcher(None, "setup", "setpu").ratio() == 0.8
        let b: Vec<char> = "setpu".chars().collect();
        let a: Vec<char> = "setup".chars().collect();
        assert!((Matcher::new(&b).ratio(&a) - 0.8).abs() < 1e-12);
    }
}
