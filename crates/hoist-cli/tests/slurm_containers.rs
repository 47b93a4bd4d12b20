//! SLURM jobs that bring their own world: containers (Charliecloud image directories, enroot
//! images converted once), staged data through the runner, and a SkyPilot task whose workdir
//! travels over the ssh session. Against the testbed's cluster (scripts/testbed.sh).

mod harness;
use harness::slurm::*;
use harness::*;

#[test]
fn a_charliecloud_container_job_from_an_image_directory() {
    let e = senv();
    // A Charliecloud image directory built on the cluster: static busybox, the files ch-run
    // needs, and the /mnt/N mount points images made by ch-image have.
    let img = "/home/hoistuser/hoist-ch-busybox-2";
    let build = format!(
        "set -e; d={img}; if [ ! -x $d/bin/sh ]; then rm -rf $d.tmp; mkdir -p $d.tmp/bin $d.tmp/etc $d.tmp/mnt/0 $d.tmp/mnt/1 $d.tmp/tmp $d.tmp/dev $d.tmp/proc $d.tmp/sys $d.tmp/home $d.tmp/run $d.tmp/var/tmp; \
         cp /bin/busybox $d.tmp/bin/busybox; for a in sh ls cat echo id env printf; do ln -s busybox $d.tmp/bin/$a; done; \
         echo 'root:x:0:0:root:/:/bin/sh' > $d.tmp/etc/passwd; echo 'hoistuser:x:'$(id -u)':'$(id -g)'::/:/bin/sh' >> $d.tmp/etc/passwd; \
         echo 'root:x:0:' > $d.tmp/etc/group; echo '127.0.0.1 localhost' > $d.tmp/etc/hosts; : > $d.tmp/etc/resolv.conf; \
         echo inside-the-image > $d.tmp/etc/hoist-marker; mv $d.tmp $d; fi"
    );
    let o = std::process::Command::new("ssh")
        .args(["-o", "BatchMode=yes", LOGIN, &build])
        .output()
        .expect("ssh");
    assert!(
        o.status.success(),
        "building the image directory: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = e.srun(&[
        "run",
        "--platform",
        "slurm",
        "--container",
        "charliecloud",
        "--image",
        img,
        "--env",
        "MODE=fast",
        "--",
        "sh",
        "-c",
        "cat /etc/hoist-marker; echo mode=$MODE results=$TAO_RESULTS_ROOT; ls /mnt/0",
    ]);
    assert_eq!(r.code(), 0, "{}\n{}", r.stdout(), r.stderr());
    let out = r.stdout();
    assert!(
        out.contains("inside-the-image"),
        "the command ran in the image: {out}"
    );
    assert!(out.contains("mode=fast results=/mnt/1"), "{out}");
    assert!(
        out.contains("entrypoint.sh") && out.contains("job.sbatch"),
        "the job directory is mounted: {out}"
    );
}

#[test]
fn enroot_images_are_converted_once_by_a_job_the_training_job_waits_for() {
    let e = senv();
    // This cluster has no enroot, so the conversion job fails; what is checked is the
    // staging: one conversion job, shared by both submits, and jobs that wait for it.
    let img = format!("registry.invalid/hoist/conv-{}:1", std::process::id());
    let submit = || {
        let o = e
            .scmd(&[
                "run",
                "-d",
                "--platform",
                "slurm",
                "--container",
                "enroot",
                "--image",
                &img,
                "--",
                "true",
            ])
            .env("SLURM_CONVERSION_MEMORY_GB", "1")
            .output()
            .expect("submit");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let a = submit();
    let b = submit();
    for id in [&a, &b] {
        wait_for("the job to wait on its conversion", || {
            let s = e.status_json(id);
            s["status"] == "Pending"
                && s["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Dependency"))
        });
    }
    // Accounting (slurmdbd) records a job a moment after the controller queues it.
    wait_for("the conversion job in accounting", || {
        let convs = remote("sacct -X -n -P -o JobName | grep -c '^hoist-sqsh-' || true");
        convs.trim().parse::<u32>().unwrap_or(0) >= 1
    });
    let sbatch = remote(&format!("cat hoist/jobs/{a}/job.sbatch"));
    assert!(
        sbatch.contains("enroot start")
            && sbatch.contains("/hoist/sqsh-cache/registry.invalid_hoist_conv-"),
        "{sbatch}"
    );
    for id in [&a, &b] {
        assert_eq!(e.srun(&["cancel", id]).code(), 0);
    }
    // A conversion the cluster refuses fails the submit instead of queueing a job that could
    // never start.
    let refused = e
        .scmd(&[
            "run",
            "--platform",
            "slurm",
            "--container",
            "enroot",
            "--image",
            "registry.invalid/other:2",
            "--",
            "true",
        ])
        .env("SLURM_CONVERSION_MEMORY_GB", "4096")
        .output()
        .expect("run");
    assert_ne!(refused.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("conversion job was refused"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn staged_runner_fetches_from_s3_and_keeps_results_on_the_cluster() {
    let e = senv();
    // Start from a cluster without this runner, so the send-then-resubmit path runs.
    let sum = std::process::Command::new("sha256sum")
        .arg(bin())
        .output()
        .expect("sha256sum");
    let hash = String::from_utf8_lossy(&sum.stdout)[..16].to_string();
    let o = std::process::Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            LOGIN,
            &format!("rm -f hoist/bin/hoist-{hash}"),
        ])
        .output()
        .expect("ssh");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let b = s3::bucket();
    s3::put(&b, "ds/train.json", b"{\"rows\": 3}\n");
    s3::put(&b, "single.txt", b"a single file\n");
    let spec = e.path("spec.yaml");
    std::fs::write(
        &spec,
        format!("dataset:\n  train_dir: s3://{b}/ds/\n  file: s3://{b}/single.txt\ntrain:\n  results_dir: \"\"\nexport:\n  model: \"\"\n"),
    )
    .expect("spec");
    let script = r#"set -e
s={config_path}
cat "$(sed -n 's/^  train_dir: //p' $s)/train.json" "$(sed -n 's/^  file: //p' $s)"
echo trained > "$(sed -n 's/^  results_dir: //p' $s)/w.txt"
echo weights > "$(sed -n 's/^  model: //p' $s)/m.bin""#;
    let mut c = e.scmd(&[
        "run",
        "--platform",
        "slurm",
        "--spec",
        spec.to_str().expect("utf8"),
        "-o",
        "train.results_dir",
        "-o",
        &format!("export.model=s3://{b}/exported/"),
        "--",
        script,
    ]);
    s3::env(&mut c);
    let o = Out(c.output().expect("hoist"));
    assert_eq!(o.code(), 0, "{}\n{}", o.stdout(), o.stderr());
    assert!(
        o.stdout().contains("{\"rows\": 3}") && o.stdout().contains("a single file"),
        "{}",
        o.stdout()
    );
    // Results stay on the cluster (TAO_RESULTS_ROOT); the explicit S3 output went up.
    assert_eq!(
        s3::get(&b, "exported/m.bin").as_deref(),
        Some(&b"weights\n"[..])
    );
    let id = e.ls()[0]["job_id"].as_str().expect("id").to_string();
    let loc = e.srun(&["results", &id]).stdout().trim().to_string();
    assert_eq!(loc, format!("lustre:///home/hoistuser/hoist/results/{id}"));
    let dl = e.path("dl");
    let r = e.srun(&["results", &id, "--download", dl.to_str().expect("utf8")]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(
        std::fs::read(dl.join("train_results_dir/w.txt")).expect("fetched"),
        b"trained\n"
    );
    // The cluster's file system is checked and listed over ssh.
    let spec_uri = format!("lustre:///home/hoistuser/hoist/results/{id}/spec.yaml");
    assert_eq!(
        e.srun(&["check-path", "--platform", "slurm", &spec_uri])
            .code(),
        0
    );
    let gone = format!("lustre:///home/hoistuser/hoist/results/{id}/nope");
    assert_eq!(
        e.srun(&["check-path", "--platform", "slurm", &gone]).code(),
        1
    );
    let ls = e.srun(&[
        "ls-path",
        "--platform",
        "slurm",
        &format!("lustre:///home/hoistuser/hoist/results/{id}"),
    ]);
    assert!(ls.stdout().contains("spec.yaml"), "{}", ls.stdout());
    let written =
        std::fs::read_to_string(dl.join("spec.yaml")).expect("the spec is kept with the results");
    assert!(!written.contains("s3://"), "{written}");
    // The runner was staged under its content hash, and the secret only in the 0600 env file.
    let o = std::process::Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            LOGIN,
            &format!(
                "test -x hoist/bin/hoist-{hash} && grep -rl {} hoist/jobs/{id} || true",
                s3::SECRET
            ),
        ])
        .output()
        .expect("ssh");
    let found = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        found,
        format!("hoist/jobs/{id}/env"),
        "the secret lives only in the env file"
    );
}

/// `hoist launch` of a SkyPilot task on two SLURM nodes: the workdir goes over the ssh
/// session (its .skyignore honoured), setup runs on each node before run, and every rank sees
/// SkyPilot's variables and the rendezvous env.
#[test]
fn a_two_node_skypilot_task_with_its_workdir_shipped_over_ssh() {
    let e = senv();
    std::fs::create_dir_all(e.path("proj/sub")).expect("workdir");
    std::fs::write(e.path("proj/marker.txt"), "shipped-over-ssh\n").expect("marker");
    std::fs::write(e.path("proj/sub/x.txt"), "nested\n").expect("nested");
    std::fs::write(e.path("proj/ignored.bin"), "not sent\n").expect("ignored");
    std::fs::write(e.path("proj/.skyignore"), "*.bin\n").expect("skyignore");
    let yaml = "name: two-nodes\nnum_nodes: 2\nworkdir: ./proj\nresources:\n  infra: slurm\nenvs:\n  PHASE: train\nsetup: |\n  echo \"setup on $SKYPILOT_SETUP_NODE_RANK\" > setup-$SKYPILOT_NODE_RANK.out\nrun: |\n  echo \"rank=$SKYPILOT_NODE_RANK n=$SKYPILOT_NUM_NODES ips=$(printf '%s' \"$SKYPILOT_NODE_IPS\" | tr '\\n' ,) master=$MASTER_ADDR nr=$NODE_RANK ws=$WORLD_SIZE phase=$PHASE $(cat marker.txt sub/x.txt | tr '\\n' ' ')ign=$(ls ignored.bin 2>/dev/null | wc -l) $(cat setup-$SKYPILOT_NODE_RANK.out)\"\n";
    std::fs::write(e.path("two.yaml"), yaml).expect("task");
    let mut c = e.scmd(&["launch", "two.yaml"]);
    c.current_dir(e.dir.path());
    let o = Out(c.output().expect("launch"));
    assert_eq!(o.code(), 0, "{}\n{}", o.stdout(), o.stderr());
    let mut lines: Vec<String> = o
        .stdout()
        .lines()
        .filter(|l| l.starts_with("rank="))
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "rank=0 n=2 ips=node1,node2 master=node1 nr=0 ws=2 phase=train shipped-over-ssh nested ign=0 setup on 0",
            "rank=1 n=2 ips=node1,node2 master=node1 nr=1 ws=2 phase=train shipped-over-ssh nested ign=0 setup on 1",
        ],
        "{}",
        o.stderr()
    );
    // A GPU model the cluster's GRES does not name: refused before anything is queued.
    let mut c = e.scmd(&["launch", "two.yaml", "--gpus", "A100:1", "-d"]);
    c.current_dir(e.dir.path());
    let o = Out(c.output().expect("launch"));
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(
        o.stderr().contains("no GPU of model A100"),
        "{}",
        o.stderr()
    );
    assert_eq!(e.ls().len(), 1, "nothing stored for the refused task");
}
