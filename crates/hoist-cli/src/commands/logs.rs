use super::write_chunk;
use crate::cli::LogsArgs;
use futures::StreamExt;
use hoist::Hoist;

pub async fn run(h: &Hoist, a: LogsArgs) -> anyhow::Result<i32> {
    let j = h.resolve(&a.job)?;
    let mut out = std::io::stdout().lock();
    if a.follow {
        let mut s = h.follow_logs(&j, a.tail).await?;
        while let Some(chunk) = s.next().await {
            if write_chunk(&mut out, &chunk?).is_err() {
                return Ok(0); // reader went away (| head)
            }
        }
    } else {
        let _ = write_chunk(&mut out, &h.logs(&j, a.tail).await?);
    }
    Ok(0)
}
