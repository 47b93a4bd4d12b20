//! Chaos, bounded: `hoist run -d` killed with SIGKILL at a spread of delays aimed at the
//! launch window (the row written, the backend's create in flight), then two reconcilers at
//! once. Whatever the delay hit, afterwards every row is settled (launched or abandoned), no
//! job ran twice, a launched job runs to its end, and a fenced one leaves nothing on the
//! backend that could start (a create that lands late is swept by the next reconcile).
//!
//! The delay is the experiment's parameter, not a wait for anything. Docker's create lands
//! about 60–110 ms into a debug build's submit on the testbed (the window issue 16 measured at
//! ~20 ms in a release build), so its delays cover 0–150 ms; a local submit takes ~40 ms.

mod harness;
use harness::docker::IMG;
use harness::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One trial: its own store, the name its job was given, whether the submit was killed.
struct Trial {
    env: Env,
    name: String,
}

/// Start `args` (a detached submit), SIGKILL it `delay` later, and reconcile from two
/// processes at once. The first reconciler starts `lead` before the kill: a debug build takes
/// ~20 ms to reach the store, so it looks right after the launcher died, while a create the
/// launcher sent may still be on its way, which is the window a fence must survive. The store
/// exists first: this aims at the launch, not at the store's creation.
fn kill_and_reconcile(env: &Env, args: &[&str], delay: Duration, lead: Duration) {
    assert_eq!(env.run(&["ls"]).code(), 0, "creating the store");
    let mut c = env
        .cmd(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hoist");
    let lead = lead.min(delay);
    std::thread::sleep(delay - lead);
    let first = env.cmd(&["reconcile"]).stdout(Stdio::piped()).spawn();
    std::thread::sleep(lead);
    let _ = c.kill();
    let _ = c.wait();
    let second = env.cmd(&["reconcile"]).stdout(Stdio::piped()).spawn();
    for r in [first, second] {
        let o = r.expect("spawn").wait_with_output().expect("reconcile");
        assert!(o.status.success(), "reconcile failed");
    }
    // And once more, now that nothing is in flight from this process's side.
    reconcile_twice_at_once(env);
}

/// Two reconcilers at once, as two commands started together would run.
fn reconcile_twice_at_once(env: &Env) {
    let a = env.cmd(&["reconcile"]).stdout(Stdio::piped()).spawn();
    let b = env.cmd(&["reconcile"]).stdout(Stdio::piped()).spawn();
    for c in [a, b] {
        let o = c.expect("spawn").wait_with_output().expect("reconcile");
        assert!(o.status.success(), "reconcile failed");
    }
}

/// The rows of a trial's store: (job id, launch state).
fn rows(env: &Env) -> Vec<(String, String)> {
    env.ls()
        .iter()
        .filter_map(|j| j["job_id"].as_str().map(str::to_string))
        .map(|id| {
            let o = env.run(&["show", "--json", &id]);
            assert_eq!(o.code(), 0, "show: {}", o.stderr());
            let v: serde_json::Value = serde_json::from_str(&o.stdout()).expect("show json");
            let state = v["launch_state"].as_str().unwrap_or_default().to_string();
            (id, state)
        })
        .collect()
}

/// Every row settled: launched or abandoned, never left launching.
fn settled(t: &Trial) -> Vec<(String, String)> {
    let rows = rows(&t.env);
    for (id, state) in &rows {
        assert!(
            state == "launched" || state == "abandoned",
            "{}: job {id} left {state:?} after reconcile",
            t.name
        );
    }
    rows
}

/// Containers on the daemon whose job name is `name` (or starts with it, with `prefix`):
/// (job id, container id).
fn containers_named(name: &str, prefix: bool) -> Vec<(String, String)> {
    let o = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=hoist.platform=docker",
            "--format",
            "{{.Label \"hoist.job-name\"}} {{.Label \"hoist.job-id\"}} {{.ID}}",
        ])
        .output()
        .expect("docker CLI (run scripts/testbed.sh)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (label, id, cid) = (w.next()?, w.next()?, w.next()?);
            let ours = if prefix {
                label.starts_with(name)
            } else {
                label == name
            };
            ours.then(|| (id.to_string(), cid.to_string()))
        })
        .collect()
}

/// Removes this run's containers when the test ends, pass or fail.
struct Sweep(String);

impl Drop for Sweep {
    fn drop(&mut self) {
        let ids: Vec<String> = containers_named(&self.0, true)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .arg("rm")
                .arg("-f")
                .args(&ids)
                .output();
        }
    }
}

#[test]
fn docker_kills_in_the_create_window_leave_no_orphan_and_no_duplicate() {
    let img = Command::new("docker")
        .args(["image", "inspect", IMG])
        .output()
        .expect("docker CLI");
    assert!(
        img.status.success(),
        "test image {IMG} is missing: run scripts/testbed.sh"
    );
    let prefix = format!("chaos-{}-", std::process::id());
    let _sweep = Sweep(prefix.clone());
    let trials: Vec<Trial> = (0..=25u64)
        .map(|i| {
            let env = Env::new();
            let name = format!("{prefix}{i}");
            kill_and_reconcile(
                &env,
                &[
                    "run",
                    "-d",
                    "--platform",
                    "docker",
                    "--image",
                    IMG,
                    "--name",
                    &name,
                    "--",
                    "echo",
                    "ran",
                ],
                Duration::from_millis(i * 6),
                Duration::from_millis([5, 12, 20][i as usize % 3]),
            );
            Trial { env, name }
        })
        .collect();

    let (mut launched, mut fenced) = (0, 0);
    for t in &trials {
        let rows = settled(t);
        let ours = |id: &str| rows.iter().find(|(r, _)| r == id).map(|(_, s)| s.clone());
        // A create that was still in flight lands when it lands: the next reconcile removes
        // it. Wait for that, reconciling again each time.
        wait_for(&format!("{}: fenced launches swept", t.name), || {
            let left = containers_named(&t.name, false)
                .into_iter()
                .any(|(id, _)| ours(&id).as_deref() != Some("launched"));
            if left {
                t.env.run(&["reconcile"]);
            }
            !left
        });
        let mut per_job = std::collections::BTreeMap::<String, usize>::new();
        for (id, _) in containers_named(&t.name, false) {
            *per_job.entry(id).or_default() += 1;
        }
        for (id, n) in &per_job {
            assert_eq!(*n, 1, "{}: job {id} has {n} containers", t.name);
        }
        for (id, state) in &rows {
            if state == "launched" {
                launched += 1;
                assert!(
                    per_job.contains_key(id),
                    "{}: launched job {id} has no container",
                    t.name
                );
                let w = t.env.run(&["wait", id]);
                assert_eq!(w.code(), 0, "{}: launched job {id}: {}", t.name, w.stderr());
                assert_eq!(t.env.run(&["logs", id]).stdout(), "ran\n", "{}", t.name);
            } else {
                fenced += 1;
            }
        }
    }
    eprintln!(
        "docker chaos: {} trials, {launched} launched, {fenced} fenced, {} killed before the row",
        trials.len(),
        trials.len() - launched - fenced
    );
}

/// Live processes whose command line mentions `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline"))
            && String::from_utf8_lossy(&cmd).contains(needle)
            && pid_alive(e.file_name().to_string_lossy().parse().unwrap_or(i32::MAX))
        {
            found.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

#[test]
fn local_kills_in_the_launch_window_run_each_job_at_most_once() {
    let trials: Vec<Trial> = (0..=13u64)
        .map(|i| {
            let env = Env::new();
            let name = format!("local-chaos-{i}");
            let ran = env.path("ran");
            let script = format!("echo x >> {}", ran.display());
            kill_and_reconcile(
                &env,
                &[
                    "run",
                    "-d",
                    "--platform",
                    "local",
                    "--name",
                    &name,
                    "--",
                    "sh",
                    "-c",
                    &script,
                ],
                Duration::from_millis(i * 3),
                Duration::from_millis([5, 12, 20][i as usize % 3]),
            );
            Trial { env, name }
        })
        .collect();
    for t in &trials {
        let rows = settled(t);
        assert!(rows.len() <= 1, "{}: one submit, one row: {rows:?}", t.name);
        let ran = || std::fs::read_to_string(t.env.path("ran")).unwrap_or_default();
        match rows.first() {
            Some((id, state)) if state == "launched" => {
                let w = t.env.run(&["wait", id]);
                assert_eq!(w.code(), 0, "{}: {}", t.name, w.stderr());
                assert_eq!(ran(), "x\n", "{}: ran exactly once", t.name);
            }
            Some((id, _)) => {
                // Fenced: no supervisor of it is alive, so nothing can run it later.
                let dir = t.env.job_dir(id).display().to_string();
                assert!(
                    processes_with(&dir).is_empty(),
                    "{}: a process still serves fenced job {id}",
                    t.name
                );
                assert_eq!(ran(), "", "{}: a fenced job never runs", t.name);
            }
            None => assert_eq!(ran(), "", "{}: no row, no run", t.name),
        }
    }
}
