//! The script that stages rendered jobs on the cluster and submits them (each after its image
//! conversion, when there is one), any number of jobs in a single round trip over ssh.
//!
//! Every job's files travel in one tar (base64 in a heredoc, which no content can break out
//! of), unpacked by one `tar` under the base directory; then each job's `sbatch` runs in a
//! subshell of its own, so one refused job does not stop the others, and prints one line,
//! `hoist-batch INDEX ok SLURM_ID` or `hoist-batch INDEX err EXIT BASE64(STDERR)`.

use super::Rendered;
use hoist_core::spec::sh_quote;

/// What the submit script prints, with [`RUNNER_MISSING_EXIT`], when the runner is not staged.
pub const RUNNER_MISSING: &str = "hoist: runner not staged";
/// Its exit code.
pub const RUNNER_MISSING_EXIT: i32 = 97;
/// The exit code of a script that could not write the jobs' files (no job was submitted).
pub const STAGING_FAILED_EXIT: i32 = 98;

/// The prefix of the line of a batch script's output that names the cluster.
pub const CLUSTER_LINE: &str = "hoist-cluster ";

/// The cluster's name as the batch script reported it (`None`: it could not tell).
pub fn reported_cluster(stdout: &str) -> Option<&str> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(CLUSTER_LINE))
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

/// One job of a batch: its hoist id (a directory name under `<base>/jobs/`) and its files.
#[derive(Debug, Clone, Copy)]
pub struct Staged<'a> {
    /// The hoist job id.
    pub job_id: &'a str,
    /// What was rendered for it.
    pub rendered: &'a Rendered,
}

/// What the script said about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// sbatch's `--parsable` output.
    Submitted(String),
    /// The job's staging or sbatch failed: its exit code and stderr.
    Failed(i32, String),
}

/// Whether a job id can name a directory of its own under `<base>/jobs/` (and a tar member):
/// one path component of plain characters.
pub fn plain_job_id(job_id: &str) -> bool {
    !job_id.is_empty()
        && job_id.len() <= 64
        && !job_id.starts_with('.')
        && job_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A shell script (fed to `sh -s` on the login host through stdin, so nothing in it shows in
/// any process list) that writes the jobs' files under `base` and submits them in order. The
/// jobs' ids must satisfy [`plain_job_id`].
pub fn batch_script(
    base: &str,
    results_root: &str,
    jobs: &[Staged<'_>],
) -> std::io::Result<String> {
    use base64::Engine;
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let q = |s: &str| sh_quote(s);
    let mut s = String::from("set -u\numask 077\n");
    // The cluster's name travels with the submit (asked in the background, alongside the
    // sbatch calls), so the identity recorded with the jobs is the cluster's own answer
    // without a round trip of its own.
    s.push_str(&format!(
        "{{ printf '{CLUSTER_LINE}%s\\n' \"$(scontrol show config 2>/dev/null | sed -n 's/^ClusterName *= *//p')\"; }} &\n"
    ));
    // One round trip in the common case: the runners are asked for here, before anything is
    // written, and only when one is missing does hoist send it (see RUNNER_MISSING) and run
    // the script again.
    let mut runners: Vec<&str> = jobs
        .iter()
        .filter_map(|j| j.rendered.runner.as_deref())
        .collect();
    runners.sort_unstable();
    runners.dedup();
    for runner in runners {
        s.push_str(&format!(
            "[ -x {} ] || {{ echo {} >&2; exit {RUNNER_MISSING_EXIT}; }}\n",
            q(runner),
            q(RUNNER_MISSING)
        ));
    }
    s.push_str(&format!(
        "mkdir -p {b}/jobs {r} || exit {STAGING_FAILED_EXIT}\nbase64 -d <<'HOIST_B64' | tar -C {b} --no-same-owner -m -xf - || {{ echo 'hoist: could not write the job files under '{b} >&2; exit {STAGING_FAILED_EXIT}; }}\n{}\nHOIST_B64\n",
        b64(&files_tar(jobs)?),
        b = q(base),
        r = q(results_root),
    ));
    for (i, job) in jobs.iter().enumerate() {
        let dir = format!("{base}/jobs/{}", job.job_id);
        s.push_str(&submit_lines(i, &dir, job.rendered));
    }
    Ok(s)
}

/// Every job's files, mode 0600 under directories of mode 0700 (as `umask 077` makes them),
/// named `jobs/<id>/…` under the base directory.
fn files_tar(jobs: &[Staged<'_>]) -> std::io::Result<Vec<u8>> {
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut t = tar::Builder::new(Vec::new());
    let mut add = |name: String, content: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        let bytes = content.unwrap_or("").as_bytes();
        match content {
            Some(_) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o600);
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o700);
            }
        }
        h.set_size(bytes.len() as u64);
        h.set_mtime(mtime);
        t.append_data(&mut h, name, bytes)
    };
    for j in jobs {
        let d = format!("jobs/{}", j.job_id);
        let r = j.rendered;
        add(format!("{d}/"), None)?;
        add(format!("{d}/slurm-logs/"), None)?;
        for (file, content) in [
            ("env", &r.env_file),
            ("entrypoint.sh", &r.entrypoint),
            ("job.sbatch", &r.sbatch),
            ("meta.json", &r.meta),
            ("plan.json", r.plan.as_ref().unwrap_or(&String::new())),
        ] {
            add(format!("{d}/{file}"), Some(content))?;
        }
        if let Some(c) = &r.conversion {
            add(format!("{d}/convert.sbatch"), Some(&c.sbatch))?;
        }
    }
    t.into_inner()
}

/// The lines that submit job `i` from its directory and print its answer line. Its stderr is
/// kept in `sbatch.err` there (what the answer carries on failure).
fn submit_lines(i: usize, dir: &str, r: &Rendered) -> String {
    let d = sh_quote(dir);
    // Inside a command substitution: `exit` and `set -e` end this job's subshell only, and
    // its stdout is the answer.
    let mut s = format!("o=$(exec 2>{d}/sbatch.err </dev/null; set -eu; cd {d}\n");
    if let Some(netrc) = &r.enroot_credentials {
        s.push_str(&super::enroot::stage_lines(dir, netrc));
    }
    let mut dep = String::new();
    if let Some(c) = &r.conversion {
        let cache = c.sqsh.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
        s.push_str(&format!("mkdir -p {}/logs\n", sh_quote(cache)));
        let cached = if c.force {
            "false".to_string()
        } else {
            format!(
                "{{ [ -s {sq} ] && [ \"$(head -c 4 {sq})\" = hsqs ]; }}",
                sq = sh_quote(&c.sqsh)
            )
        };
        // Reuse a conversion of the same image already queued (by anyone's hoist of this
        // user, or an earlier job of this batch), else start one; the job waits for it with
        // afterok.
        s.push_str(&format!(
            "conv=\nif ! {cached}; then\n  conv=$(squeue -h -u \"$(id -un)\" --name={n} -o %i | head -n 1)\n  if [ -z \"$conv\" ]; then conv=$(sbatch --parsable convert.sbatch) || {{ echo \"hoist: the image conversion job was refused\" >&2; exit 1; }}; fi\n  conv=${{conv%%;*}}\n  [ -n \"$conv\" ] || exit 1\nfi\n",
            n = sh_quote(&c.job_name),
        ));
        dep = " ${conv:+--dependency=afterok:$conv}".into();
    }
    s.push_str(&format!("sbatch --parsable{dep} job.sbatch); rc=$?\n"));
    s.push_str(&format!(
        "if [ \"$rc\" -eq 0 ]; then printf 'hoist-batch {i} ok %s\\n' \"$o\"; else printf 'hoist-batch {i} err %s %s\\n' \"$rc\" \"$(base64 <{d}/sbatch.err 2>/dev/null | tr -d '\\n')\"; fi\n"
    ));
    s
}

/// The answers in a batch script's output, by job index. A job without a line never reached
/// its turn (the session broke, or the script stopped before it).
pub fn parse_answers(stdout: &str) -> std::collections::HashMap<usize, Answer> {
    use base64::Engine;
    let mut out = std::collections::HashMap::new();
    for line in stdout.lines() {
        let mut f = line.splitn(5, ' ');
        let (Some("hoist-batch"), Some(i), Some(kind)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Ok(i) = i.parse::<usize>() else { continue };
        let answer = match kind {
            "ok" => Answer::Submitted(f.next().unwrap_or("").trim().to_string()),
            "err" => {
                let code = f.next().and_then(|c| c.parse().ok()).unwrap_or(1);
                let err = f
                    .next()
                    .and_then(|e| {
                        base64::engine::general_purpose::STANDARD
                            .decode(e.trim())
                            .ok()
                    })
                    .map(|e| String::from_utf8_lossy(&e).into_owned())
                    .unwrap_or_default();
                Answer::Failed(code, err)
            }
            _ => continue,
        };
        out.insert(i, answer);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::tests::{req, settings};
    use crate::script::{ConversionSettings, render};
    use hoist_core::{Command, GpuSpec};
    use std::os::unix::fs::PermissionsExt;

    /// The script run by this machine's `sh`, with an `sbatch` that refuses jobs whose
    /// directory says `bad` and numbers the others from 101.
    #[test]
    fn one_refused_job_does_not_stop_the_others() {
        let tmp = tempfile::tempdir().expect("tmp");
        let base = tmp.path().join("base");
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let sbatch = bin.join("sbatch");
        std::fs::write(
            &sbatch,
            "#!/bin/sh\ncase \"$PWD\" in *bad*) echo 'sbatch: error: invalid partition specified: x' >&2; exit 1;; esac\nn=$(cat ../counter 2>/dev/null || echo 100); n=$((n+1)); echo $n > ../counter; echo \"$n;cluster\"\n",
        )
        .expect("sbatch");
        std::fs::set_permissions(&sbatch, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let base_s = base.display().to_string();
        let ids = ["ok-1", "bad-2", "ok-3"];
        let rendered: Vec<Rendered> = ids
            .iter()
            .map(|id| {
                let mut r = req(Command::Shell("true".into()), 1, GpuSpec::None);
                r.job_id = id.to_string();
                render(
                    &r,
                    &format!("{base_s}/jobs/{id}"),
                    &format!("{base_s}/results"),
                    &ConversionSettings::default(),
                    &settings(),
                )
                .expect("render")
            })
            .collect();
        let jobs: Vec<Staged<'_>> = ids
            .iter()
            .zip(&rendered)
            .map(|(job_id, rendered)| Staged { job_id, rendered })
            .collect();
        let script = batch_script(&base_s, &format!("{base_s}/results"), &jobs).expect("script");
        assert!(
            !script.contains("hf_secret"),
            "values travel as base64 only"
        );
        let mut child = std::process::Command::new("sh")
            .arg("-s")
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        if let Some(mut w) = child.stdin.take() {
            std::io::Write::write_all(&mut w, script.as_bytes()).expect("feed");
        }
        let out = child.wait_with_output().expect("sh ran");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answers = parse_answers(&stdout);
        assert_eq!(
            answers.get(&0),
            Some(&Answer::Submitted("101;cluster".into()))
        );
        assert_eq!(
            answers.get(&1),
            Some(&Answer::Failed(
                1,
                "sbatch: error: invalid partition specified: x\n".into()
            ))
        );
        assert_eq!(
            answers.get(&2),
            Some(&Answer::Submitted("102;cluster".into()))
        );
        let env = base.join("jobs/ok-1/env");
        assert!(
            std::fs::read_to_string(&env)
                .expect("env")
                .contains("HF_TOKEN=hf_secret")
        );
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&env), 0o600, "secrets are readable by the user only");
        assert_eq!(mode(&base.join("jobs/ok-3/slurm-logs")), 0o700);
        assert!(base.join("jobs/ok-3/job.sbatch").is_file() && base.join("results").is_dir());
    }

    #[test]
    fn answers_are_parsed_by_index() {
        let a = parse_answers(
            "noise\nhoist-batch 2 ok 7\nhoist-batch 0 err 1 c2JhdGNoOiBubw==\nhoist-batch x ok 1\nhoist-batch 1 what\n",
        );
        assert_eq!(a.len(), 2);
        assert_eq!(a.get(&2), Some(&Answer::Submitted("7".into())));
        assert_eq!(a.get(&0), Some(&Answer::Failed(1, "sbatch: no".into())));
        assert!(plain_job_id("0b9c-uuid_1.x") && !plain_job_id("../x") && !plain_job_id("a/b"));
        assert!(!plain_job_id("") && !plain_job_id(".hidden"));
    }
}
