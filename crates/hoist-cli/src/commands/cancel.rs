use super::exit_suffix;
use crate::cli::JobArg;
use hoist::Hoist;
use hoist::core::CancelOutcome;

pub async fn run(h: &Hoist, a: JobArg) -> anyhow::Result<i32> {
    let (j, outcome) = h.cancel(&a.job).await?;
    match outcome {
        CancelOutcome::AlreadyFinished => println!(
            "job {} had already ended: {}{}",
            j.short_id(),
            j.status,
            exit_suffix(&j)
        ),
        CancelOutcome::NotFound => println!(
            "job {} no longer exists on {}; marked {}",
            j.short_id(),
            j.platform,
            j.status
        ),
        CancelOutcome::Requested => {
            let j = if j.status.is_terminal() {
                j
            } else {
                h.wait(&j.job_id).await?
            };
            println!("job {} {}{}", j.short_id(), j.status, exit_suffix(&j));
        }
    }
    Ok(0)
}
