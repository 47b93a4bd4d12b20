//! The script that stages a rendered job on the cluster and submits it (after its image
//! conversion, when there is one), in a single round trip over ssh.

use super::Rendered;
use hoist_core::spec::sh_quote;

/// What the submit script prints, with [`RUNNER_MISSING_EXIT`], when the runner is not staged.
pub const RUNNER_MISSING: &str = "hoist: runner not staged";
/// Its exit code.
pub const RUNNER_MISSING_EXIT: i32 = 97;

/// A shell script (fed to `sh -s` on the login host through stdin, so nothing in it shows in
/// any process list) that writes the files and submits. The heredocs carry base64, which no
/// content can break out of.
pub fn stage_and_submit(dir: &str, results_root: &str, r: &Rendered) -> String {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let mut s = String::from("set -eu\numask 077\n");
    if let Some(runner) = &r.runner {
        // One round trip in the common case: the runner is asked for here, and only when it
        // is missing does hoist send it (see RUNNER_MISSING) and submit again.
        s.push_str(&format!(
            "[ -x {} ] || {{ echo {} >&2; exit {RUNNER_MISSING_EXIT}; }}\n",
            sh_quote(runner),
            sh_quote(RUNNER_MISSING)
        ));
    }
    s.push_str(&format!(
        "mkdir -p {}/slurm-logs {}\n",
        sh_quote(dir),
        sh_quote(results_root)
    ));
    for (file, content) in [
        ("env", &r.env_file),
        ("entrypoint.sh", &r.entrypoint),
        ("job.sbatch", &r.sbatch),
        ("meta.json", &r.meta),
        ("plan.json", r.plan.as_ref().unwrap_or(&String::new())),
    ] {
        s.push_str(&format!(
            "base64 -d > {}/{file} <<'HOIST_B64'\n{}\nHOIST_B64\n",
            sh_quote(dir),
            b64(content)
        ));
    }
    if let Some(netrc) = &r.enroot_credentials {
        s.push_str(&super::enroot::stage_lines(dir, netrc));
    }
    let mut dep = String::new();
    if let Some(c) = &r.conversion {
        let cache = c.sqsh.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
        s.push_str(&format!("mkdir -p {}/logs\n", sh_quote(cache)));
        s.push_str(&format!(
            "base64 -d > {}/convert.sbatch <<'HOIST_B64'\n{}\nHOIST_B64\n",
            sh_quote(dir),
            b64(&c.sbatch)
        ));
        let cached = if c.force {
            "false".to_string()
        } else {
            format!(
                "{{ [ -s {sq} ] && [ \"$(head -c 4 {sq})\" = hsqs ]; }}",
                sq = sh_quote(&c.sqsh)
            )
        };
        // Reuse a conversion of the same image already queued (by anyone's hoist of this
        // user), else start one; the job waits for it with afterok.
        s.push_str(&format!(
            "conv=\nif ! {cached}; then\n  conv=$(squeue -h -u \"$(id -un)\" --name={n} -o %i | head -n 1)\n  if [ -z \"$conv\" ]; then conv=$(sbatch --parsable {d}/convert.sbatch) || {{ echo \"hoist: the image conversion job was refused\" >&2; exit 1; }}; fi\n  conv=${{conv%%;*}}\n  [ -n \"$conv\" ] || exit 1\nfi\n",
            n = sh_quote(&c.job_name),
            d = sh_quote(dir)
        ));
        dep = " ${conv:+--dependency=afterok:$conv}".into();
    }
    s.push_str(&format!(
        "cd {} && sbatch --parsable{dep} job.sbatch\n",
        sh_quote(dir)
    ));
    s
}
