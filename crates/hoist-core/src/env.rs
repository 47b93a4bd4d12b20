//! Where settings and credentials are read from: an environment handed to the library, so a
//! Python host or a web server can give each request its own instead of mutating the
//! process's.

use std::collections::BTreeMap;
use std::sync::Arc;

/// A source of environment variables.
pub trait EnvSource: Send + Sync {
    /// A variable's value; empty values read as unset (as every TAO variable is treated).
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment. Reading it is the one impurity this crate allows besides the
/// clock, because every caller needs the same default and a copy elsewhere would drift.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.trim().is_empty())
    }
}

/// A fixed set of variables (tests, embedding hosts).
#[derive(Debug, Clone, Default)]
pub struct MapEnv(pub BTreeMap<String, String>);

impl MapEnv {
    /// From pairs.
    pub fn of<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        MapEnv(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl EnvSource for MapEnv {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).filter(|v| !v.trim().is_empty()).cloned()
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key).filter(|v| !v.is_empty()).cloned()
    }
}

/// A shared environment handle, as the library keeps it.
pub type SharedEnv = Arc<dyn EnvSource>;

impl<T: EnvSource + ?Sized> EnvSource for Arc<T> {
    fn get(&self, key: &str) -> Option<String> {
        (**self).get(key)
    }
}

impl<T: EnvSource + ?Sized> EnvSource for &T {
    fn get(&self, key: &str) -> Option<String> {
        (**self).get(key)
    }
}
