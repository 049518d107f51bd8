//! Private MariaDB instances (see crate docs).
