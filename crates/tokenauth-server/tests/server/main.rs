//! The server's integration tests, in one binary: each links the whole server, so one
//! link instead of one per topic (CI's build time was mostly these links). Each module
//! was a test binary of its own; none sets process-wide state (environment variables,
//! a global subscriber, the working directory), so they share a process safely. The
//! real binary runs as a child process (`common::tokenauth`), one per test.
//!
//! The PostgreSQL, Redis, TLS and nginx tests are ignored by a plain `cargo test`; CI
//! runs them with `-- --ignored` once both servers are up and nginx is installed
//! (`.ci/run`).

mod common;

// In-process: the library's router, `serve_*` functions and admin CLI (`import` also
// on PostgreSQL), and docs/configuration.md, generated from the CLI's definition.
mod cli;
mod configuration;
// The configuration file: its refusals in-process, its precedence through the binary.
mod config_file;
// deploy/'s container file and systemd unit, against the command's definition.
mod deploy;
mod http;
mod import;
mod serve;

// The `tokenauth` binary on SQLite.
mod cache;
mod challenges;
mod connections;
mod cors;
mod django;
mod django_custom;
mod django_knox;
mod e2e;
mod ergonomics;
mod hostile;
mod login_memory;
mod logs;
mod metrics;
mod oauth;
mod openapi;
mod personal_tokens;
mod scripting;
mod standalone;
mod stored_hashes;
mod stored_policy;

// The `tokenauth` binary on PostgreSQL, MySQL, Redis and over TLS, and behind nginx (ignored
// without them).
mod copy;
mod gateway;
mod import_django;
mod import_knox;
mod instances;
mod mysql;
mod outage;
mod postgres;
mod redis;
mod tls;
