use super::exit_suffix;
use crate::cli::JobArg;
use hoist::Hoist;

pub async fn run(h: &Hoist, a: JobArg) -> anyhow::Result<i32> {
    let j = h.wait(&a.job).await?;
    eprintln!("job {} {}{}", j.short_id(), j.status, exit_suffix(&j));
    Ok(j.status.cli_exit_code(j.exit_code).unwrap_or(1))
}
