//! pgaudit parser (work in progress)
