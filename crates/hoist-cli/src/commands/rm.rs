use crate::cli::RmArgs;
use hoist::Hoist;

pub async fn run(h: &Hoist, a: RmArgs) -> anyhow::Result<i32> {
    let j = h.remove(&a.job, a.force).await?;
    println!("removed {} ({})", j.short_id(), j.name);
    Ok(0)
}
