//! Private PostgreSQL 15 instances (see crate docs).
