//! The library's one error type, its exit codes and hints.

use crate::config::ConfigError;
use hoist_core::{InputError, PlatformError};
use hoist_store::StoreError;

/// Errors of the library verbs. [`HoistError::exit_code`] gives the CLI's exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HoistError {
    /// Bad input from the user.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The store failed or did not find the job.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The platform failed.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The config file is broken.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Moving data failed (inputs, results, paths).
    #[error(transparent)]
    Staging(#[from] hoist_staging::StagingError),
}

impl HoistError {
    /// 2 for anything the user can fix by typing something else; 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            HoistError::Input(_)
            | HoistError::Platform(PlatformError::Input(_) | PlatformError::Unsupported { .. })
            | HoistError::Config(_) => 2,
            HoistError::Store(StoreError::NotFound(_) | StoreError::Ambiguous { .. }) => 2,
            HoistError::Staging(
                hoist_staging::StagingError::Input(_)
                | hoist_staging::StagingError::NotFound { .. }
                | hoist_staging::StagingError::Denied { .. },
            ) => 2,
            _ => 1,
        }
    }

    /// The fix to print under the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            HoistError::Input(e) => Some(e.hint.clone()),
            HoistError::Platform(e) => e.hint(),
            HoistError::Store(StoreError::NotFound(_)) => Some("list jobs with: hoist ls".into()),
            HoistError::Store(StoreError::Ambiguous { .. }) => {
                Some("type more characters of the id".into())
            }
            HoistError::Config(_) => {
                Some("fix $HOIST_HOME/config.toml (see README, Profiles)".into())
            }
            HoistError::Staging(e) => e.hint(),
            _ => None,
        }
    }
}

/// Result alias.
pub type Result<T, E = HoistError> = std::result::Result<T, E>;
