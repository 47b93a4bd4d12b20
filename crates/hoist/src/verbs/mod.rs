//! The library's verbs, one module per concern.

pub mod control;
pub mod data;
mod fenced;
pub mod gc;
pub mod inspect;
pub mod instances;
pub mod pending;
pub mod submit;
pub mod track;
mod uploads;
