use super::print_json;
use crate::cli::{InstancesArgs, InstancesCmd, InstancesLsArgs, InstancesRmArgs};
use hoist::Hoist;

pub async fn run(h: &Hoist, a: InstancesArgs) -> anyhow::Result<i32> {
    match a.cmd {
        None => list(h, a.ls).await,
        Some(InstancesCmd::Ls(l)) => list(h, l).await,
        Some(InstancesCmd::Rm(r)) => remove(h, r).await,
    }
}

async fn list(h: &Hoist, a: InstancesLsArgs) -> anyhow::Result<i32> {
    let all = h
        .instances(a.platform.as_deref(), a.profile.as_deref())
        .await?;
    if a.json {
        print_json(&all)?;
        return Ok(0);
    }
    if all.is_empty() {
        eprintln!("no instances");
        return Ok(0);
    }
    let rows: Vec<[String; 7]> = all
        .iter()
        .map(|v| {
            let short = |ids: &[String]| -> String {
                ids.iter()
                    .map(|i| i.chars().take(8).collect::<String>())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let jobs = if v.jobs.is_empty() {
                "-".to_string()
            } else if v.active_jobs.is_empty() {
                format!("{} (none active)", short(&v.jobs))
            } else {
                format!("{} (active: {})", short(&v.jobs), short(&v.active_jobs))
            };
            [
                v.platform.clone(),
                v.instance.name.clone(),
                v.instance.id.clone(),
                v.instance.status.clone(),
                v.instance.instance_type.clone(),
                v.instance.gpu.clone(),
                jobs,
            ]
        })
        .collect();
    let head = [
        "PLATFORM",
        "NAME",
        "ID",
        "STATUS",
        "TYPE",
        "GPU",
        "HOIST JOBS",
    ];
    let mut w = head.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(head.to_vec()));
    for r in &rows {
        println!("{}", line(r.iter().map(String::as_str).collect()));
    }
    Ok(0)
}

async fn remove(h: &Hoist, a: InstancesRmArgs) -> anyhow::Result<i32> {
    let done = h
        .remove_instance(&a.name, &a.platform, a.profile.as_deref(), a.force)
        .await?;
    if a.json {
        print_json(&done)?;
        return Ok(0);
    }
    for id in &done.canceled {
        println!("canceled {}", id.chars().take(8).collect::<String>());
    }
    println!("deleted {} instance {}", done.platform, done.name);
    Ok(0)
}
