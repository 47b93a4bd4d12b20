#!/usr/bin/env bash
# Corpus accuracy of `hoist why`: every case under crates/hoist-cli/tests/corpus runs as a
# local job that prints the case's log and exits with its code; `hoist why --json` is compared
# with the case's expected class and cause. Prints class accuracy, cause accuracy (rule and
# cause text both right) and how many cases fell back to the bare exit code or signal.
# For comparison it replays the same corpus against the rule table of a base commit
# (BASE, default HEAD) without building it: the table's patterns read from
# crates/hoist-core/src/failure/rules.rs at that commit, first rule in order over any line
# (Python's re standing in for Rust's regex), else the bare exit code.
set -euo pipefail
cd "$(dirname "$0")/.."
# HOIST_BIN=path runs an already built binary (accuracy does not depend on the profile).
if [ -n "${HOIST_BIN:-}" ]; then
  bin=$HOIST_BIN
else
  cargo build -q --release -p hoist-cli
  bin=target/x86_64-unknown-linux-gnu/release/hoist
  [ -x "$bin" ] || bin=target/release/hoist
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOIST_HOME="$work/home" NO_COLOR=1

python3 - "$bin" "$work" crates/hoist-cli/tests/corpus <<'PY'
import json, pathlib, subprocess, sys
binary, work, root = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
cases = []
for i, path in enumerate(sorted(root.rglob("*.log"))):
    head, body = path.read_text().split("\n---\n", 1)
    meta = {l[2:].split(": ", 1)[0]: l[2:].split(": ", 1)[1].strip()
            for l in head.splitlines() if l.startswith("# ") and ": " in l}
    log = work / f"case-{i}.log"
    log.write_text(body)
    job = subprocess.run([binary, "run", "-d", "--", f"cat '{log}'; exit {meta['exit']}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    cases.append((path.relative_to(root), meta, job))
cls = cause = fallback = 0
for name, meta, job in cases:
    subprocess.run([binary, "wait", job], capture_output=True)
    v = json.loads(subprocess.run([binary, "why", job, "--json"], capture_output=True,
                                  text=True, check=True).stdout)
    rule = v.get("rule") or ""
    cls += v.get("err_class") == meta["expect-class"]
    cause += rule == meta["expect-rule"] and meta["expect-cause"] in (v.get("cause") or "")
    if rule.startswith(("exit:", "signal:")):
        fallback += 1
        print(f"  fell back: {name} -> {rule}")
n = len(cases)
print(f"{'cases':<34}{n:>6}")
print(f"{'class right':<34}{cls:>6}{100 * cls / n:>8.1f} %")
print(f"{'cause right (rule and text)':<34}{cause:>6}{100 * cause / n:>8.1f} %")
print(f"{'fell back to the bare exit code':<34}{fallback:>6}{100 * fallback / n:>8.1f} %")
PY

base=${BASE:-HEAD}
if git show "$base:crates/hoist-core/src/failure/rules.rs" > "$work/base_rules.rs" 2>/dev/null \
   && grep -q 'pattern: r' "$work/base_rules.rs"; then
  echo "the rule table of $base on the same corpus:"
  python3 - "$work/base_rules.rs" crates/hoist-cli/tests/corpus <<'PY'
import pathlib, re, sys
src, root = pathlib.Path(sys.argv[1]).read_text(), pathlib.Path(sys.argv[2])
rules = [(n, re.compile("(?i)" + p), c) for n, p, c in re.findall(
    r'name: "([^"]+)",\s*pattern: r#?"(.*?)"#?,\s*class: ErrClass::(\w+)', src, re.S)]
cls_of = {"Program": "ERR_PROGRAM", "Infra": "ERR_INFRA", "Config": "ERR_CONFIG"}
n = cls = rule_right = fallback = 0
for path in sorted(root.rglob("*.log")):
    head, body = path.read_text().split("\n---\n", 1)
    meta = {l[2:].split(": ", 1)[0]: l[2:].split(": ", 1)[1].strip()
            for l in head.splitlines() if l.startswith("# ") and ": " in l}
    lines, n = body.splitlines(), n + 1
    hit = next(((name, c) for name, rx, c in rules if any(rx.search(l) for l in lines)), None)
    if hit is None:
        fallback += 1
        code = int(meta["exit"])
        got = "ERR_CONFIG" if code in (126, 127) else "ERR_INFRA" if code == 143 else "ERR_PROGRAM"
    else:
        got = cls_of[hit[1]]
        rule_right += "log:" + hit[0] == meta["expect-rule"]
    cls += got == meta["expect-class"]
print(f"{'class right':<34}{cls:>6}{100 * cls / n:>8.1f} %")
print(f"{'rule right (the cause it names)':<34}{rule_right:>6}{100 * rule_right / n:>8.1f} %")
print(f"{'fell back to the bare exit code':<34}{fallback:>6}{100 * fallback / n:>8.1f} %")
PY
fi
