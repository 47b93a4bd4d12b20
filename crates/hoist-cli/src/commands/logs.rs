use super::write_chunk;
use crate::cli::LogsArgs;
use futures::StreamExt;
use hoist::Hoist;

pub async fn run(h: &Hoist, a: LogsArgs) -> anyhow::Result<i32> {
    let j = h.resolve(&a.job)?;
    if j.retry_count > 0 {
        // On stderr: what a pipe reads stays the job's output alone.
        eprintln!(
            "hoist: job {} was run again {} time(s) after infrastructure failures (hoist show {0} lists why)",
            j.short_id(),
            j.retry_count
        );
    }
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
