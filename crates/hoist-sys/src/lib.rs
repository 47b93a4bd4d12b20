//! Process identity on this host. The launch fence (the facade) and the local platform's
//! supervisor both need to tell a live process from a dead one whose pid was reused; neither
//! may depend on the other, so the few functions live here.
#![deny(missing_docs)]

pub mod fs;
pub mod lock;
pub mod proc;
pub mod secret;
