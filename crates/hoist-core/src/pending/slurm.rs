//! SLURM's pending reason codes (squeue `%r`, scontrol's `Reason=`), in words.

use super::PendingAnalysis;

/// One reason code: what it means and what unblocks it; `stuck` when waiting never helps.
struct Code {
    code: &'static str,
    explanation: &'static str,
    unblock: &'static str,
    stuck: bool,
}

const fn wait(code: &'static str, explanation: &'static str, unblock: &'static str) -> Code {
    Code {
        code,
        explanation,
        unblock,
        stuck: false,
    }
}

const fn act(code: &'static str, explanation: &'static str, unblock: &'static str) -> Code {
    Code {
        code,
        explanation,
        unblock,
        stuck: true,
    }
}

/// The codes with a meaning of their own. QOS and association limits not listed here are
/// worded from their parts (see [`limit`]).
const CODES: &[Code] = &[
    wait(
        "None",
        "SLURM has not looked at the job yet",
        "nothing: the scheduler evaluates it at its next pass",
    ),
    wait(
        "Resources",
        "the nodes, GPUs, CPUs or memory it asks for are all in use by other jobs",
        "it starts when running jobs end (squeue --start -j ID estimates when); fewer GPUs or nodes, or a shorter time limit that backfill can fit, start sooner",
    ),
    wait(
        "Priority",
        "jobs with a higher priority are queued ahead of it for the same resources",
        "nothing but wait: sprio -j ID shows its priority and squeue --start -j ID the expected start",
    ),
    wait(
        "Dependency",
        "it waits for the jobs it depends on to end",
        "it becomes eligible when they end as the dependency asks (scontrol show job ID shows Dependency=)",
    ),
    act(
        "DependencyNeverSatisfied",
        "a job it depends on ended in a way that can never satisfy the dependency",
        "cancel it (hoist cancel JOB) and run it again once its inputs exist",
    ),
    wait(
        "BeginTime",
        "its earliest start time (--begin) has not come yet",
        "it becomes eligible at that time; scontrol update JobId=ID StartTime=now starts it sooner",
    ),
    act(
        "JobHeldUser",
        "its owner holds it (scontrol hold)",
        "release it: scontrol release ID",
    ),
    act(
        "JobHeldAdmin",
        "an administrator holds it",
        "ask the cluster's administrators to release it (only they can)",
    ),
    act(
        "launch failed requeued held",
        "SLURM could not launch it on its node, requeued it and held it",
        "check the node (sinfo -R shows why it is down or drained), then scontrol release ID; hoist cancel JOB if the nodes stay broken",
    ),
    act(
        "job requeued in held state",
        "it was requeued and held (scontrol requeuehold, by its owner or an administrator)",
        "release it: scontrol release ID",
    ),
    wait(
        "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions",
        "the nodes it can run on are down, drained, or kept for jobs of higher-priority partitions",
        "sinfo -R shows the down and drained nodes; it starts when they return or those jobs end",
    ),
    act(
        "Requested node configuration is not available",
        "no node of the partition has what it asks for (CPUs, memory, GPUs, features)",
        "cancel it and ask for what a node has (sinfo -o '%N %c %m %G %f')",
    ),
    act(
        "ReqNodeNotAvail",
        "a node it needs is not available (down, drained or reserved)",
        "sinfo -R shows why the nodes are out; it starts when they return, or cancel and run it without pinning those nodes",
    ),
    act(
        "PartitionTimeLimit",
        "its time limit is longer than the partition's MaxTime",
        "cancel it and run it with a shorter SLURM_TIME_HOURS, or on a partition with a longer MaxTime (sinfo -o '%P %l')",
    ),
    act(
        "PartitionNodeLimit",
        "it asks for more nodes than the partition allows one job",
        "cancel it and run it on fewer nodes, or on another partition",
    ),
    act(
        "PartitionDown",
        "its partition is down",
        "wait for the administrators to bring the partition up, or cancel and run it on another partition",
    ),
    act(
        "PartitionInactive",
        "its partition is inactive and starts no jobs",
        "cancel it and run it on another partition (sinfo shows their state)",
    ),
    wait(
        "NodeDown",
        "a node it needs is down",
        "it starts when the node returns; sinfo -R shows why it is down",
    ),
    wait(
        "Reservation",
        "it runs in an advance reservation that has not started yet",
        "it becomes eligible when the reservation starts (scontrol show reservation)",
    ),
    act(
        "ReqNodeNotAvail, Reserved for maintenance",
        "its nodes are reserved for maintenance during the time it would run",
        "ask for a time limit that ends before the maintenance, or wait until it is over",
    ),
    wait(
        "Licenses",
        "the licenses it asks for are all in use",
        "it starts when other jobs give the licenses back (scontrol show licenses)",
    ),
    act(
        "InvalidAccount",
        "its account is not valid for you on this cluster",
        "cancel it and run it with an account you belong to (--account; sacctmgr show assoc user=$USER)",
    ),
    act(
        "InvalidQOS",
        "its QOS is not valid for your account",
        "cancel it and run it with a QOS your association allows",
    ),
    act(
        "BadConstraints",
        "its constraints (features, node counts, memory) can never be met by the cluster's nodes",
        "cancel it and ask for what a node has (sinfo -o '%N %c %m %G %f')",
    ),
    wait(
        "Cleaning",
        "SLURM is cleaning up after its previous run (it was requeued)",
        "nothing: it becomes eligible when the cleanup ends",
    ),
    wait(
        "Prolog",
        "the node's prolog is running before the job starts",
        "nothing: it starts when the prolog ends",
    ),
    wait(
        "JobArrayTaskLimit",
        "the array's limit on tasks running at once is reached",
        "it starts when other tasks of the array end",
    ),
    wait(
        "FrontEndDown",
        "no front end node is available to launch it",
        "it starts when a front end node returns",
    ),
];

/// What a QOS (`QOS…`) or association (`Assoc…`) limit code means, from its parts:
/// `Grp` (shared by everyone under it) or `Max` (per user or per job), the resource, and
/// `Minutes` (a budget of resource-minutes, used up until it is reset).
fn limit(code: &str) -> Option<(String, String, bool)> {
    let (owner, rest) = if let Some(r) = code.strip_prefix("QOS") {
        ("the QOS", r)
    } else if let Some(r) = code.strip_prefix("Assoc") {
        ("your account (association)", r)
    } else {
        return None;
    };
    let (scope, rest) = if let Some(r) = rest.strip_prefix("Grp") {
        ("all its jobs together", r)
    } else if let Some(r) = rest.strip_prefix("Max") {
        if rest.contains("PerUser") {
            ("one user", r)
        } else if rest.contains("PerAccount") {
            ("one account", r)
        } else {
            ("one job", r)
        }
    } else {
        return None;
    };
    let what = [
        ("GRES", "GPUs (GRES)"),
        ("Cpu", "CPUs"),
        ("CPU", "CPUs"),
        ("Mem", "memory"),
        ("Node", "nodes"),
        ("SubmitJob", "queued jobs"),
        ("Jobs", "running jobs"),
        ("Wall", "wall time"),
        ("Billing", "billing units"),
        ("Energy", "energy"),
    ]
    .iter()
    .find(|(k, _)| rest.starts_with(k))
    .map(|(_, w)| *w)
    .unwrap_or("resources");
    let budget = rest.contains("Minutes") || rest.contains("RunMinutes");
    if budget {
        return Some((
            format!("{owner}'s budget of {what}-minutes for {scope} is used up"),
            "it starts when jobs that hold the budget end or the budget is reset; ask your administrators, or charge another account (--account)".into(),
            false,
        ));
    }
    if what == "wall time" || (scope == "one job" && rest.contains("PerJob")) {
        return Some((
            format!("it asks for more {what} than {owner} allows {scope}"),
            "cancel it and run it asking for less (fewer GPUs, a shorter SLURM_TIME_HOURS), or with another QOS or account".into(),
            true,
        ));
    }
    let unblock = if scope == "one user" {
        "it starts when enough of your other jobs end (squeue -u $USER); cancel some, or ask for less"
    } else {
        "it starts when other jobs under the same limit end; ask for less, or charge another account (--account)"
    };
    Some((
        format!("{owner}'s limit on {what} for {scope} is reached"),
        unblock.into(),
        false,
    ))
}

/// A SLURM job's pending reason (`Resources`, `QOSMaxGRESPerUser`,
/// `ReqNodeNotAvail, UnavailableNodes:node[1-2]`) in words. `evidence` is the line it was
/// read from.
pub fn slurm(reason: &str, evidence: &str) -> PendingAnalysis {
    let reason = reason.trim().trim_start_matches('(').trim_end_matches(')');
    let reason = if reason.is_empty() { "None" } else { reason };
    // `ReqNodeNotAvail, UnavailableNodes:…` carries detail after the code.
    let found = CODES
        .iter()
        .filter(|c| reason == c.code || reason.starts_with(&format!("{}, ", c.code)))
        .max_by_key(|c| c.code.len());
    // A code is one word (`QOSMaxGRESPerUser`), or a phrase (`job requeued in held state`);
    // detail follows a comma.
    let code = found.map(|c| c.code).unwrap_or_else(|| {
        reason
            .split(',')
            .next()
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .unwrap_or(reason)
    });
    let evidence = if evidence.is_empty() {
        format!("squeue reason: {reason}")
    } else {
        evidence.to_string()
    };
    if let Some(c) = found {
        let mut explanation = c.explanation.to_string();
        if let Some(nodes) = reason.split("UnavailableNodes:").nth(1) {
            explanation.push_str(&format!(" ({nodes})"));
        }
        let a = PendingAnalysis::new(c.code, &explanation, c.unblock, &evidence);
        return if c.stuck { a.stuck() } else { a };
    }
    if let Some((explanation, unblock, stuck)) = limit(code) {
        let a = PendingAnalysis::new(code, &explanation, &unblock, &evidence);
        return if stuck { a.stuck() } else { a };
    }
    PendingAnalysis::new(
        code,
        &format!("SLURM gives the reason {reason:?}"),
        "scontrol show job ID has the details; SLURM's \"Job Reason Codes\" page explains every code",
        &evidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_code_has_words_and_a_way_out() {
        for c in CODES {
            let a = slurm(c.code, "");
            assert_eq!(a.reason, c.code);
            assert_eq!(a.explanation, c.explanation);
            assert!(!a.unblock.is_empty());
            assert_eq!(a.stuck, c.stuck, "{}", c.code);
            assert_eq!(a.evidence, format!("squeue reason: {}", c.code));
        }
    }

    #[test]
    fn the_common_reasons_read_as_users_expect() {
        let r = slurm("Resources", "");
        assert!(r.explanation.contains("in use") && !r.stuck);
        assert!(slurm("Priority", "").unblock.contains("sprio"));
        assert!(slurm("Dependency", "").explanation.contains("depends on"));
        assert!(slurm("BeginTime", "").unblock.contains("StartTime=now"));
        let held = slurm("JobHeldUser", "");
        assert!(held.stuck && held.unblock.contains("scontrol release"));
        assert!(slurm("JobHeldAdmin", "").unblock.contains("administrators"));
        let l = slurm("launch failed requeued held", "");
        assert_eq!(l.reason, "launch failed requeued held");
        assert!(l.stuck);
        assert!(
            slurm("PartitionTimeLimit", "")
                .unblock
                .contains("SLURM_TIME_HOURS")
        );
        assert!(slurm("Reservation", "").explanation.contains("reservation"));
        assert!(slurm("Licenses", "").explanation.contains("licenses"));
        assert!(slurm("(None)", "").explanation.contains("not looked"));
        let rq = slurm("job requeued in held state", "");
        assert!(rq.stuck && rq.unblock.contains("scontrol release"));
        assert_eq!(slurm("", "").reason, "None");
    }

    #[test]
    fn unavailable_nodes_are_named() {
        let a = slurm("ReqNodeNotAvail, UnavailableNodes:node[1-2]", "squeue: x");
        assert_eq!(a.reason, "ReqNodeNotAvail");
        assert!(a.explanation.ends_with("(node[1-2])"), "{}", a.explanation);
        assert_eq!(a.evidence, "squeue: x");
        let m = slurm("ReqNodeNotAvail, Reserved for maintenance", "");
        assert_eq!(m.reason, "ReqNodeNotAvail, Reserved for maintenance");
    }

    #[test]
    fn qos_and_association_limits_are_worded_from_their_parts() {
        let g = slurm("QOSMaxGRESPerUser", "");
        assert!(
            g.explanation.contains("the QOS")
                && g.explanation.contains("GPUs")
                && g.explanation.contains("one user"),
            "{}",
            g.explanation
        );
        assert!(g.unblock.contains("your other jobs") && !g.stuck);
        let j = slurm("QOSMaxJobsPerUserLimit", "");
        assert!(j.explanation.contains("running jobs") && j.explanation.contains("one user"));
        let a = slurm("AssocGrpGRES", "");
        assert!(a.explanation.contains("account") && a.explanation.contains("all its jobs"));
        assert!(a.unblock.contains("--account"));
        let c = slurm("AssocGrpCpuLimit", "");
        assert!(c.explanation.contains("CPUs"));
        let m = slurm("AssocGrpGRESMinutes", "");
        assert!(m.explanation.contains("budget") && !m.stuck);
        let w = slurm("QOSMaxWallDurationPerJobLimit", "");
        assert!(w.stuck && w.explanation.contains("wall time"));
        let s = slurm("QOSMaxSubmitJobPerUserLimit", "");
        assert!(s.explanation.contains("queued jobs"));
        let p = slurm("AssocMaxGRESPerJob", "");
        assert!(p.stuck && p.explanation.contains("one job"));
    }

    #[test]
    fn an_unknown_code_is_quoted_with_where_to_look() {
        let p = slurm("a new phrase, with detail", "");
        assert_eq!(p.reason, "a new phrase");
        let a = slurm("SomethingNew", "");
        assert_eq!(a.reason, "SomethingNew");
        assert!(a.explanation.contains("\"SomethingNew\""));
        assert!(a.unblock.contains("scontrol show job"));
    }
}
