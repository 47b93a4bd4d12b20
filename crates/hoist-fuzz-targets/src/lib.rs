//! The bodies of hoist's fuzz targets: each feeds arbitrary bytes to one family of parsers of
//! outside text (what users type, what files say, what remote systems print). The bar is
//! that none panics, whatever it is given: each parser answers with a value or an error.
//!
//! `fuzz/` (cargo-fuzz, nightly) calls these from its targets; `tests/replay.rs` feeds them
//! every file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` on the stable
//! toolchain, so the corpora are ordinary tests.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::str::from_utf8;

/// A target's body: any bytes in, a panic on a failure.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus folder and cargo-fuzz binary carry.
pub const TARGETS: &[(&str, Target)] = &[
    ("task_yaml", task_yaml),
    ("spec_files", spec_files),
    ("env_file", env_file),
    ("cli_values", cli_values),
    ("slurm_output", slurm_output),
    ("status_mappings", status_mappings),
    ("archive_paths", archive_paths),
    ("log_rules", log_rules),
];

/// Jobs of a workflow rendered per input: a matrix may make thousands, and rendering each
/// finds nothing the first ones do not.
const MAX_RENDERED_JOBS: usize = 32;

/// A task file: load (YAML, SkyPilot's schema, substitution), the launch-time name checks,
/// the workflow (DAG, matrices, references), and each job rendered.
pub fn task_yaml(data: &[u8]) {
    use hoist_task::schema::{self, TaskFile};
    use hoist_task::workflow::{self, MatrixCell};
    let Ok(text) = from_utf8(data) else { return };
    let none = BTreeMap::new();
    let Ok(file) = schema::load(text, "fuzz.yaml", &none, &none) else {
        return;
    };
    let tasks: Vec<_> = match &file {
        TaskFile::Single(t) => vec![t],
        TaskFile::Pipeline { tasks, .. } => tasks.iter().collect(),
    };
    for t in tasks {
        let _ = schema::validate_names(t);
    }
    let Ok(wf) = workflow::workflow(&file) else {
        return;
    };
    let results = |_: &str, _: &MatrixCell| Some("s3://bucket/results/x".to_string());
    for (t, cell) in wf.jobs().take(MAX_RENDERED_JOBS) {
        let _ = wf.reads(&t.name, cell);
        let _ = wf.render(&t.name, cell, &results);
    }
}

/// A config-mode spec: the first byte picks the format, the first line is a key path to
/// rewrite, the rest is the spec. Parsed, searched for remote values, rewritten, written in
/// every format; what is written as JSON or YAML must read back as the same value.
pub fn spec_files(data: &[u8]) {
    use hoist_core::data::{SpecFormat, find_flat_dotted_keys, parse_key_path};
    use hoist_core::staging::{get_at, remote_values, set_at};
    use hoist_staging::runner::{parse_spec, render_spec};
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let formats = [SpecFormat::Json, SpecFormat::Yaml, SpecFormat::Toml];
    let Ok(text) = from_utf8(rest) else { return };
    let (key, body) = text.split_once('\n').unwrap_or(("", text));
    let Ok(mut spec) = parse_spec(body, formats[usize::from(pick) % 3], "fuzz") else {
        return;
    };
    let _ = remote_values(&spec);
    let _ = find_flat_dotted_keys(&spec);
    if let Ok(steps) = parse_key_path(key) {
        let _ = get_at(&spec, &steps);
    }
    let _ = set_at(&mut spec, key, serde_json::Value::String("/data/x".into()));
    for fmt in formats {
        let Ok(written) = render_spec(&spec, fmt) else {
            continue;
        };
        let back = parse_spec(&written, fmt, "written");
        // TOML may reorder or refuse what it cannot hold; JSON and YAML carry any value.
        if fmt != SpecFormat::Toml {
            match back {
                // Bit for bit, floats included (serde_json's float_roundtrip).
                Ok(v) => assert!(
                    v == spec,
                    "{fmt:?} does not read back as written:\n{written}"
                ),
                Err(e) => panic!("{fmt:?} written by hoist does not read back: {e}\n{written}"),
            }
        }
    }
}

/// An env file (`--env-file`, `.env`) and each line as a `--env` argument.
pub fn env_file(data: &[u8]) {
    let Ok(text) = from_utf8(data) else { return };
    let _ = hoist_core::spec::parse_env_file(text, "fuzz.env");
    for line in text.lines() {
        let _ = hoist_core::command::parse_env_arg(line);
    }
}

/// What is typed on a command line, each line given to every value parser: `--gpus`,
/// `--memory`, `K=V`, `--input`/`--output` bindings, `--arg`, URIs, spec key paths, names,
/// accelerators, Docker endpoints, cluster paths; and the text as nvidia-smi's answer.
pub fn cli_values(data: &[u8]) {
    let Ok(text) = from_utf8(data) else { return };
    for v in text.lines() {
        if let Ok((spec, _)) = hoist::request::parse_gpus(v) {
            let _ = spec.to_string();
        }
        let _ = v.parse::<hoist_core::GpuSpec>();
        let _ = hoist_core::command::parse_memory(v);
        let _ = hoist::request::parse_kv("--env", v, "K=V");
        let _ = hoist::request::parse_binding("--input", v, true);
        let _ = hoist::request::parse_binding("--output", v, false);
        if let Ok((name, value)) = hoist::request::parse_arg(v) {
            let _ = hoist_core::staging::args_words(&BTreeMap::from([(name, value)]));
        }
        let _ = hoist_core::data::validate_uri(v);
        let _ = hoist_core::staging::parse_s3(v);
        let _ = hoist_core::staging::parse_hf(v);
        let _ = hoist_core::staging::parse_ngc(v);
        let _ = hoist_core::staging::local_path(v);
        let _ = hoist_core::data::parse_key_path(v);
        let _ = hoist_core::spec::validate_name(v);
        let _ = hoist_core::command::sh_quote_checked(v);
        let _ = hoist_task::schema::parse_accelerator(v);
        let _ = hoist_docker_engine::endpoint::normalize(v);
        let _ = hoist_slurm::cluster_path(v);
        let _ = hoist_brev::cli::check_name(v);
    }
    if let Ok(gpus) = hoist_core::gpu::parse_nvidia_smi(text) {
        for line in text.lines() {
            if let Ok(spec) = line.parse::<hoist_core::GpuSpec>() {
                let _ = hoist_core::gpu::choose_gpus(&spec, &gpus);
            }
        }
    }
}

/// What a SLURM login node prints: the text given to every reader of sbatch, squeue, sacct,
/// scontrol (jobs and partitions), sinfo's GRES, the job-name lookup and the status files,
/// whole and line by line.
pub fn slurm_output(data: &[u8]) {
    use hoist_slurm::{fuzzing, pending, state};
    let _ = fuzzing::tar_members(data);
    let Ok(text) = from_utf8(data) else { return };
    let _ = state::parse_sbatch(text);
    for e in state::parse_squeue(text) {
        let _ = state::map_state(&e.state);
        let _ = pending::parse(&e.id, text);
    }
    for e in state::parse_sacct(text) {
        let _ = (
            state::map_state(&e.state),
            state::infrastructure_state(&e.state),
        );
    }
    let _ = state::partition_max_minutes(text);
    let _ = fuzzing::gres_types(text);
    let _ = fuzzing::names_to_ids(text);
    for line in text.lines() {
        let _ = state::parse_scontrol_job(line);
        let _ = state::status_file_failure(line);
        let _ = state::parse_duration_minutes(line);
        let _ = pending::parse("123", line);
    }
}

/// A backend's status answer as JSON, read as each platform's type and mapped to a job
/// status: Docker's container inspect, a Kubernetes Job with its pods, a Lepton job, and
/// `brev ls --json`.
pub fn status_mappings(data: &[u8]) {
    #[derive(serde::Deserialize)]
    struct KubeJob {
        job: k8s_openapi::api::batch::v1::Job,
        #[serde(default)]
        pods: Vec<k8s_openapi::api::core::v1::Pod>,
    }
    let Ok(text) = from_utf8(data) else { return };
    let _ = hoist_brev::cli::parse_ls(text);
    if let Ok(c) = serde_json::from_str::<bollard::models::ContainerInspectResponse>(text) {
        let _ = hoist_docker_engine::map_state(&c, false);
        let _ = hoist_docker_engine::map_state(&c, true);
    }
    if let Ok(k) = serde_json::from_str::<KubeJob>(text) {
        use hoist_kube::status;
        let current = status::current_pods(&k.job, &k.pods);
        let _ = status::report(&k.job, &current);
        let _ = status::findings(&k.job, &current);
        let _ = status::replicas(&k.pods);
        let _ = status::job_finished(&k.job);
        let _ = hoist_kube::pending::analysis(&k.pods);
        for p in &k.pods {
            let _ = (status::rank(p), status::pod_issue(p));
        }
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
        && let Some(st) = hoist_lepton::status::parse(&v)
    {
        let _ = hoist_lepton::status::report(&st, false);
        let _ = hoist_lepton::status::report(&st, true);
    }
}

/// Archive members and shipped files: each line as a member path (never one that climbs
/// out), an archive name, a key's folder, an ignore file with its excludes matched; and the
/// bytes as a tar archive extracted into a fresh folder, which nothing may leave.
pub fn archive_paths(data: &[u8]) {
    use hoist_core::staging::{self as st, Archive};
    if let Ok(text) = from_utf8(data) {
        for line in text.lines() {
            if let Some(p) = st::safe_member_path(line) {
                assert!(
                    !p.starts_with('/') && !p.split('/').any(|s| s == ".."),
                    "{line:?} taken as the member path {p:?}, which leaves the folder"
                );
            }
            let _ = st::archive_of(line);
            let _ = (st::key_dir_name(line), st::file_safe(line, '_'));
        }
        // Matching costs pattern × path length: long lines would only slow the search down
        // (`long_and_starry_patterns_end` in hoist-core covers them).
        let short = |s: &&str| s.len() <= 256;
        let (excludes, _) = st::ignore_file_excludes(text);
        for pattern in excludes.iter().map(String::as_str).filter(short).take(8) {
            for path in text.lines().filter(short).take(8) {
                let _ = st::exclude_matches(pattern, path);
            }
        }
    }
    // A tar archive has at least one 512-byte header.
    if data.len() < 512 {
        return;
    }
    let Ok(root) = tempfile::tempdir() else {
        return;
    };
    let archive = root.path().join("data.tar");
    let into = root.path().join("out");
    if std::fs::write(&archive, data).is_err() {
        return;
    }
    let _ = hoist_staging::archive::extract(&archive, Archive::Tar, &into);
    let mut left: Vec<String> = std::fs::read_dir(root.path())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    left.sort();
    left.retain(|n| n != "data.tar" && n != "out");
    assert!(
        left.is_empty(),
        "extracting wrote outside its folder: {left:?}"
    );
}

/// A job's log: the rule matcher and the whole failure analysis, as each platform's finished
/// job gives it.
pub fn log_rules(data: &[u8]) {
    use hoist_core::JobStatus;
    use hoist_core::failure::{FailureInput, analyze, match_log};
    let Ok(text) = from_utf8(data) else { return };
    let _ = match_log(text);
    let _ = analyze(&FailureInput {
        status: Some(JobStatus::Error),
        exit_code: Some(1),
        log_tail: text.to_string(),
        log_start_line: Some(1),
        ..Default::default()
    });
    let _ = analyze(&FailureInput {
        status: Some(JobStatus::Error),
        signal: Some(9),
        message: text.lines().last().unwrap_or("").to_string(),
        log_tail: text.to_string(),
        ..Default::default()
    });
}
