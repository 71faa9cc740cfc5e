//! Integration tests of the HTTP API: the real router over real stores, one test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod accounts;
mod demo;
mod faults;
mod input;
mod jwt;
mod jwt_attacks;
mod metrics;
mod races;
mod secrets;
mod session;
mod throttle;
