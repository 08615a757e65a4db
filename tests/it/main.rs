//! The integration suite: real servers on real ports, a real SQLite file, real HTTP.

mod api;
mod assets;
mod backups;
mod binary;
mod browser;
mod browser_sync;
mod events;
mod fake_github;
mod group_commit;
mod hardening;
mod headers;
mod limits;
mod observability;
mod openapi;
mod ops;
mod ops_stats;
mod persistence;
mod screenshots;
mod shutdown;
mod support;
mod sync;
mod sync_crash;
mod sync_races;
mod webdriver;
