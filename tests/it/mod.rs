//! The test modules, one per area of the user-facing contract (SPEC.md).

pub mod emulator;
pub mod harness;

mod artifacts;
mod bigquery;
mod commands;
mod config;
mod contracts;
mod data_tests;
mod dbt_compat;
mod dbt_project;
mod definitions;
mod deps;
mod docs;
mod errors;
mod example;
mod fuzz;
mod incremental;
mod interrupts;
mod jinja;
mod jinja_context;
mod jinja_packages;
mod kills;
mod layers;
mod materializations;
mod robustness;
mod secrets;
mod seeds;
mod selection;
mod sources;
mod state;
mod synth;
mod unit_tests;
mod versions;
