use hoist::core::JobRecord;

pub fn run(settled: Vec<(JobRecord, &'static str)>) -> anyhow::Result<i32> {
    if settled.is_empty() {
        println!("nothing to reconcile");
    }
    for (j, what) in settled {
        println!("{} {} {what}", j.short_id(), j.name);
    }
    Ok(0)
}
