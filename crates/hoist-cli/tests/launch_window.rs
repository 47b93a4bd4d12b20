//! The edges of a launch against the real testbed (scripts/testbed.sh): a create that lands
//! after its launch was fenced off is removed (Docker container, SLURM job), and bad input the
//! daemon would refuse is refused before any row is written.

mod harness;
use harness::docker::IMG;
use harness::slurm::*;
use harness::*;

fn docker(args: &[&str]) -> std::process::Output {
    std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI (run scripts/testbed.sh)")
}

/// Containers labelled with this job's id, any state.
fn containers_of(id: &str) -> Vec<String> {
    let o = docker(&["ps", "-aq", "--filter", &format!("label=hoist.job-id={id}")]);
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// What a Docker create still in flight when its launcher died leaves once it lands: the
/// job's container, with hoist's labels, in state `created`.
fn late_create(id: &str) {
    let o = docker(&[
        "create",
        "--name",
        &format!("hoist-job-{id}"),
        "--label",
        "hoist.platform=docker",
        "--label",
        &format!("hoist.job-id={id}"),
        "--label",
        "hoist.launch-token=late",
        IMG,
        "echo",
        "must never run",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A docker launch killed after its row was written, before the platform saw it, then
/// reconciled: its row is abandoned. Returns the job id.
fn fenced_docker_job(e: &Env, name: &str) -> String {
    crash_at(
        e.cmd(&[
            "run",
            "-d",
            "--platform",
            "docker",
            "--image",
            IMG,
            "--name",
            name,
            "--",
            "true",
        ]),
        "after-insert",
    );
    let r = e.run(&["reconcile"]);
    assert!(
        r.stdout().contains(&format!("{name} abandoned")),
        "{}",
        r.stdout()
    );
    e.status_json(name)["job_id"]
        .as_str()
        .expect("job id")
        .to_string()
}

#[test]
fn a_container_created_after_the_fence_is_removed_by_the_next_reconcile() {
    let e = Env::new();
    let id = fenced_docker_job(&e, "late");
    late_create(&id);
    let r = e.run(&["reconcile"]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(
        r.stdout()
            .contains("removed what its interrupted submit left"),
        "{}",
        r.stdout()
    );
    assert!(containers_of(&id).is_empty(), "the leftover is gone");
    assert_eq!(e.status("late"), "Error", "the row stays fenced");
    // Nothing is left to remove: the next reconcile has nothing to say.
    assert_eq!(
        e.run(&["reconcile"]).stdout().trim(),
        "nothing to reconcile"
    );
}

#[test]
fn rm_force_of_a_fenced_row_removes_its_leftover_container() {
    let e = Env::new();
    let id = fenced_docker_job(&e, "gone");
    late_create(&id);
    let r = e.run(&["rm", "--force", "gone"]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(containers_of(&id).is_empty(), "rm --force removed it");
    assert!(e.ls().is_empty());
    // The row is gone, but a create could still land: later commands keep sweeping for it.
    late_create(&id);
    e.run(&["ls"]);
    assert!(
        containers_of(&id).is_empty(),
        "swept after the row was gone"
    );
}

#[test]
fn pull_never_with_a_missing_image_is_bad_input_and_stores_nothing() {
    let e = Env::new();
    let o = e.run(&[
        "run",
        "-d",
        "--platform",
        "docker",
        "--image",
        "hoist-test/not-there:never",
        "--pull",
        "never",
        "--",
        "true",
    ]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(
        o.stderr().contains("hoist-test/not-there:never") && o.stderr().contains("--pull never"),
        "{}",
        o.stderr()
    );
    assert!(e.ls().is_empty(), "nothing stored");
}

#[test]
fn a_missing_mount_source_is_bad_input_and_stores_nothing() {
    let e = Env::new();
    let missing = e.path("no-such-dir");
    let mount = format!("{}:/data", missing.display());
    let o = e.run(&[
        "run",
        "-d",
        "--platform",
        "docker",
        "--image",
        IMG,
        "--mount",
        &mount,
        "--",
        "true",
    ]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(
        o.stderr().contains(&missing.display().to_string())
            && o.stderr().contains("does not exist"),
        "{}",
        o.stderr()
    );
    assert!(e.ls().is_empty(), "nothing stored");
}

fn slurm(e: &Env, args: &[&str]) -> std::process::Command {
    let mut c = e.cmd(args);
    slurm_vars(&mut c);
    c
}

#[test]
fn an_sbatch_that_lands_after_the_fence_is_cancelled_by_the_next_reconcile() {
    let e = Env::new();
    crash_at(
        slurm(
            &e,
            &[
                "run",
                "-d",
                "--platform",
                "slurm",
                "--name",
                "late",
                "--",
                "sleep",
                "300",
            ],
        ),
        "after-insert",
    );
    let r = Out(slurm(&e, &["reconcile"]).output().expect("hoist"));
    assert!(r.stdout().contains("late abandoned"), "{}", r.stdout());
    let id = e.status_json("late")["job_id"]
        .as_str()
        .expect("job id")
        .to_string();
    // What the dead launcher's sbatch queues when it lands: a job under hoist's unique name
    // (`hoist-<id>`), held so it stays queued whatever the cluster's load.
    let slurm_id = remote_ok(&format!(
        "sbatch --parsable --hold -p debug --job-name=hoist-{id} --comment=hoist:{id} --wrap 'sleep 300'"
    ));
    let r = Out(slurm(&e, &["reconcile"]).output().expect("hoist"));
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(
        r.stdout()
            .contains("removed what its interrupted submit left"),
        "{}",
        r.stdout()
    );
    let left = remote_ok(&format!("squeue -h -j {slurm_id} -o %T 2>/dev/null; true"));
    assert!(
        left.is_empty() || left == "CANCELLED" || left == "COMPLETING",
        "job {slurm_id} still queued: {left}"
    );
}
