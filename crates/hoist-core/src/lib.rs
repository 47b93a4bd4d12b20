//! The job model every hoist platform shares.
//!
//! Nothing in this crate touches the file system, the network or a process: it is the
//! vocabulary (specs, records, statuses), the rules (which status may follow which, what a
//! failure means) and the [`Platform`] trait that each backend crate implements. Keeping it
//! pure is what lets the store, the CLI and every platform agree without depending on each
//! other.
#![deny(missing_docs)]

pub mod age;
pub mod command;
pub mod data;
pub mod env;
pub mod failure;
pub mod gpu;
pub mod job;
pub mod pending;
pub mod platform;
pub mod registry;
pub mod report;
pub mod settings;
pub mod spec;
pub mod staging;
pub mod status;

pub use env::{EnvSource, MapEnv, ProcessEnv, SharedEnv};
pub use failure::{ErrClass, FailureAnalysis, FailureEvent};
pub use gpu::GpuSpec;
pub use job::{JobRecord, JobSummary, LaunchState, RetryAttempt};
pub use pending::PendingAnalysis;
pub use platform::{
    BoxLogStream, BuildContext, CancelOutcome, Capabilities, Details, DryRun, Instance,
    LaunchRecovery, LogChunk, PathView, Platform, PlatformDescriptor, PlatformError, PlatformInfo,
    PreflightCheck, PreflightRequest, Readiness, Replica, RunnerDelivery, StatusReport,
    SubmitRequest, Submitted,
};
pub use report::{ReportEvent, Reporter, SharedReporter, Silent};
pub use settings::{DefaultValue, SettingDoc, SettingKind, SettingsMap, Source};
pub use spec::{Command, EnvValue, InputError, JobSpec, Upload};
pub use status::JobStatus;

/// Current time as an RFC 3339 UTC timestamp, the one format every record uses.
///
/// Reading the clock is the single impurity tolerated here, because every layer needs the
/// same format and a helper elsewhere would only be copied.
pub fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// The one timestamp format hoist writes (store, JSON output): UTC, microseconds, fixed
/// width, so text order is time order and a stored value can be printed without re-parsing.
pub fn format_ts(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Serde adapters writing timestamps in [`format_ts`] form.
pub mod ts_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    /// For `jiff::Timestamp` fields.
    pub fn serialize<S: Serializer>(t: &jiff::Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_ts(*t))
    }

    /// For `jiff::Timestamp` fields.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<jiff::Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }

    /// For `Option<jiff::Timestamp>` fields.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serialize.
        pub fn serialize<S: Serializer>(
            t: &Option<jiff::Timestamp>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::super::format_ts(*t)),
                None => s.serialize_none(),
            }
        }

        /// Deserialize.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<jiff::Timestamp>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(s) => s.parse().map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}
