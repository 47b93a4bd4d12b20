//! The one refresh loop of the server: it asks each platform with live jobs for their status
//! (one batched call per platform and round, backing off a platform that fails), reads the
//! store for what changed (its own refreshes and other processes' writes alike), and
//! broadcasts each change to every open event stream. Browsers never cause a backend call
//! by watching.

use hoist::Hoist;
use hoist::core::{JobStatus, JobSummary};
use hoist::store::ListFilter;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// How many of the newest jobs are compared each round besides the live ones: enough to see
/// jobs another process submitted between two rounds.
const NEWEST: usize = 200;
/// The longest a failing platform is left alone.
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The loop's handle: where its changes are heard.
pub struct Live {
    tx: broadcast::Sender<JobSummary>,
}

impl Live {
    /// Start the loop on the current runtime; it runs as long as the process.
    pub fn start(h: Arc<Hoist>, max: Duration) -> Live {
        let (tx, _) = broadcast::channel(4096);
        let min = h.poll_bounds().0.min(max);
        tokio::spawn(run(h, tx.clone(), min, max));
        Live { tx }
    }

    /// Every change from now on (a job's status, message or exit code), in the shape
    /// `hoist ls --json` prints.
    pub fn subscribe(&self) -> broadcast::Receiver<JobSummary> {
        self.tx.subscribe()
    }
}

/// What is compared to tell a change.
type Seen = (JobStatus, String, Option<i32>);

fn key(s: &JobSummary) -> Seen {
    (s.status, s.message.clone(), s.exit_code)
}

struct Backoff {
    due: Instant,
    delay: Duration,
}

async fn run(h: Arc<Hoist>, tx: broadcast::Sender<JobSummary>, min: Duration, max: Duration) {
    let mut seen: HashMap<String, Seen> = HashMap::new();
    // The first look only learns where things stand: a browser opening now sees it rendered.
    let _ = changes(&h, &mut seen);
    let mut backoff: HashMap<String, Backoff> = HashMap::new();
    let mut delay = min;
    loop {
        let active = h.store().active().unwrap_or_default();
        let platforms: BTreeSet<String> = active.iter().map(|j| j.platform.clone()).collect();
        let now = Instant::now();
        let due: Vec<&String> = platforms
            .iter()
            .filter(|p| backoff.get(*p).is_none_or(|b| b.due <= now))
            .collect();
        let rounds = due.iter().map(|p| {
            let h = &h;
            async move { (p.to_string(), h.refresh_active(Some(p.as_str())).await) }
        });
        for (p, res) in futures::future::join_all(rounds).await {
            match res {
                Ok(()) => {
                    backoff.remove(&p);
                }
                Err(_) => {
                    // The error is the store's or the platform set-up's; the jobs' own
                    // messages say what the backend answered. Ask this platform less often.
                    let d = backoff
                        .get(&p)
                        .map_or(max, |b| (b.delay * 2).min(BACKOFF_MAX));
                    backoff.insert(
                        p,
                        Backoff {
                            due: Instant::now() + d,
                            delay: d,
                        },
                    );
                }
            }
        }
        let changed = changes(&h, &mut seen);
        let mut sent = false;
        for s in changed {
            // No receiver is not an error: nobody is watching now.
            let _ = tx.send(s);
            sent = true;
        }
        // Quick rounds while things move, slower ones while they do not; growing by half
        // (not doubling) keeps an end soon after a change from waiting a long round.
        delay = if sent { min } else { (delay * 3 / 2).min(max) };
        // A watching platform (Docker, Kubernetes) wakes the loop early; the bound keeps
        // other processes' writes (a job submitted from the CLI) from waiting on a watch.
        let live = h.store().active().unwrap_or_default();
        let _ = tokio::time::timeout(max, h.wait_for_change(&live, delay)).await;
    }
}

/// The jobs whose status, message or exit code differ from `seen`; `seen` updated to now.
fn changes(h: &Hoist, seen: &mut HashMap<String, Seen>) -> Vec<JobSummary> {
    let store = h.store();
    let mut now: HashMap<String, JobSummary> = HashMap::new();
    let newest = store
        .list_summaries(&ListFilter {
            limit: Some(NEWEST),
            ..Default::default()
        })
        .unwrap_or_default();
    for s in newest {
        now.insert(s.job_id.clone(), s);
    }
    for j in store.active().unwrap_or_default() {
        now.insert(j.job_id.clone(), JobSummary::from(&j));
    }
    // A job that was live and is neither live nor among the newest now has ended (or was
    // removed): read it once more so its end is told.
    let gone: Vec<String> = seen
        .iter()
        .filter(|(id, s)| !s.0.is_terminal() && !now.contains_key(*id))
        .map(|(id, _)| id.clone())
        .collect();
    for id in gone {
        if let Ok(Some(j)) = store.get(&id) {
            now.insert(id, JobSummary::from(&j));
        }
    }
    let mut out: Vec<JobSummary> = now
        .values()
        .filter(|s| seen.get(&s.job_id) != Some(&key(s)))
        .cloned()
        .collect();
    out.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    *seen = now.into_iter().map(|(id, s)| (id, key(&s))).collect();
    out
}
