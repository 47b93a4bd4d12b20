use super::input;
use crate::cli::ResultsArgs;
use hoist::Hoist;
use hoist::core::InputError;
use hoist::views::ResultsView;

pub async fn run(h: &Hoist, a: ResultsArgs) -> anyhow::Result<i32> {
    let j = h.resolve(&a.job)?;
    let Some(loc) = h.results_dir(&j) else {
        return Err(input(InputError::new(
            format!(
                "job {} has no results location (it never launched)",
                j.short_id()
            ),
            "hoist show JOB tells what happened",
        )));
    };
    if let Some(dir) = &a.download {
        let n = h.download_results(&j, dir).await?;
        eprintln!("fetched {n} file(s) from {loc} into {}", dir.display());
    }
    if a.json {
        let v = ResultsView {
            job_id: j.job_id,
            results_location: loc,
        };
        println!("{}", serde_json::to_string(&v)?);
    } else if a.download.is_none() {
        println!("{loc}");
    }
    Ok(0)
}
