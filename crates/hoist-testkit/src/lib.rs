//! hoist's test kit: [`fake::FakePlatform`], an in-memory platform a test scripts and
//! inspects (for the facade's orchestration), and [`contract::platform_contract`], the rules
//! every real platform must honour, run against each of them.
#![deny(missing_docs)]

pub mod contract;
pub mod fake;

pub use contract::{ContractJobs, platform_contract};
pub use fake::{Fake, FakeDescriptor, FakePlatform, FakeState, StatusCall, reports};
