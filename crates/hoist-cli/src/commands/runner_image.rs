use crate::cli::RunnerImageArgs;
use hoist::Hoist;

pub async fn run(h: &Hoist, a: RunnerImageArgs) -> anyhow::Result<i32> {
    let tag = a
        .tag
        .clone()
        .unwrap_or_else(|| format!("hoist-runner:{}", env!("CARGO_PKG_VERSION")));
    let id = h.build_runner_image(&tag, a.docker_host.clone()).await?;
    eprintln!("built {tag} ({id})");
    println!("{tag}");
    Ok(0)
}
