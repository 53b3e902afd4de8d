//! Banter's integration tests: one binary, real servers on ephemeral ports, real HTTP.
//!
//! Every test that touches storage is written once as `async fn name(app: TestApp)` and listed
//! in a `backend_tests!` block, which runs it on SQLite and on PostgreSQL.

#[macro_use]
mod helpers;

mod accounts;
mod attachments;
mod changes;
mod chat;
mod cluster;
mod config;
mod hardening;
mod live_groups;
mod meta;
mod node;
mod operator;
mod pg;
mod pipeline;
mod proxy;
mod realtime;
mod search;
mod seed;
mod ws;
