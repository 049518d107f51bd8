//! Test support for onetrail's integration tests: private database servers
//! started in temp dirs on free ports, and helpers to find them.
//!
//! Boundaries: a dev-dependency only; it knows none of onetrail's crates, so
//! a test double never ships in the agent.

pub mod mariadb;
pub mod pg_workload;
pub mod postgres;
pub mod python;
pub mod receivers;
pub mod rsyslog;
pub mod tansu;
pub mod tds;

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}
