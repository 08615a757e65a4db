//! BookChat: a self-hosted chat server in one binary; every message lands in SQLite first.
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod logging;
pub mod message;
pub mod secret;
pub mod state;
pub mod sync;
