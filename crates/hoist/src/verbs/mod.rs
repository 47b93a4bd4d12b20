//! The library's verbs, one module per concern.

pub mod control;
pub mod data;
pub mod inspect;
pub mod instances;
pub mod submit;
pub mod track;
mod uploads;
