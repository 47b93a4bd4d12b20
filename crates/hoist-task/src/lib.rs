//! `hoist launch task.yaml`: SkyPilot task YAMLs, loaded and validated as SkyPilot 0.14 does
//! ([`schema`]), turned into hoist job requests on any platform ([`launch`]), and run as one
//! job or a pipeline of jobs ([`pipeline`]); [`workflow`] is the pure part of workflows (the
//! DAG, matrices, references between tasks). A front door: it depends on the facade only.
#![deny(missing_docs)]

pub mod driver;
pub mod engine;
pub mod launch;
pub mod pipeline;
pub mod runs;
pub mod runspec;
pub mod schema;
pub mod workflow;
