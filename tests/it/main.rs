//! The integration tests, one binary: one module per theme, each running the real
//! `chief-upload` binary (through [`common::TestEnv`]) against the fake Chief server of
//! the `fake-chief` crate (crates/fake-chief). One binary links once, where one per file
//! linked the CLI and the fake ten times.
//!
//! `cargo test --test it upload::` runs one theme; the interop suite against a real S3
//! server is its own binary (tests/interop/, `--features interop --test interop`).

mod common;

mod ci;
mod ci_log;
mod fake_server;
mod filters;
mod junit;
mod limits;
mod named_files;
mod names;
mod network;
mod outage;
mod outputs;
mod reliability;
mod stdin;
mod ui;
mod upload;
mod watch;
