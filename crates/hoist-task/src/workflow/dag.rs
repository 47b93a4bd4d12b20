//! The DAG of `needs`: a topological order, and a cycle named when there is none.

use std::collections::BTreeMap;

use super::WorkflowTask;
use crate::schema::{TaskError, field_error, task_subject};

/// Kahn's algorithm, file order among ready tasks; a leftover task is on (or behind) a cycle,
/// which is found and named.
pub(super) fn topological(tasks: &[WorkflowTask]) -> Result<Vec<usize>, TaskError> {
    let index: BTreeMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let needs: Vec<Vec<usize>> = tasks
        .iter()
        .map(|t| {
            t.needs
                .iter()
                .filter_map(|n| index.get(n.as_str()).copied())
                .collect()
        })
        .collect();
    let mut done = vec![false; tasks.len()];
    let mut order = Vec::with_capacity(tasks.len());
    while order.len() < tasks.len() {
        let ready = (0..tasks.len()).find(|&i| !done[i] && needs[i].iter().all(|&n| done[n]));
        let Some(i) = ready else {
            return Err(cycle_error(tasks, &needs, &done));
        };
        done[i] = true;
        order.push(i);
    }
    Ok(order)
}

/// Walks `needs` from the first task left undone until a task repeats: that loop is a cycle
/// (every undone task needs another undone one, so the walk cannot stop).
fn cycle_error(tasks: &[WorkflowTask], needs: &[Vec<usize>], done: &[bool]) -> TaskError {
    let start = done.iter().position(|d| !d).unwrap_or(0);
    let mut path = vec![start];
    let mut at = start;
    loop {
        let next = needs[at]
            .iter()
            .copied()
            .find(|&n| !done[n])
            .unwrap_or(start);
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            // Start the cycle at its task that comes first in the file, for a stable message.
            let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
            cycle.rotate_left(first);
            cycle.push(cycle[0]);
            let names: Vec<&str> = cycle.iter().map(|&i| tasks[i].name.as_str()).collect();
            return field_error(
                &task_subject(names[0]),
                "needs",
                format!(
                    "a cycle: {} (each needs the next), so none of them could ever start. \
                     Remove one of these needs.",
                    names.join(" -> ")
                ),
            );
        }
        path.push(next);
        at = next;
    }
}
