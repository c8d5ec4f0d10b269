//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod colour;
pub mod memory_index;
pub mod vectors;
