//! What `onetrail check` reports: findings with a level.

/// How bad a finding of `onetrail check` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Works, but should be changed (secrets readable by others, no TLS
    /// verification, cleartext to another host, a path that is not tailed).
    Warn,
    /// The agent cannot work like this.
    Fail,
}

/// One finding of `onetrail check`.
#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub subject: String,
    pub message: String,
}

impl Finding {
    /// Not a failure (a warning is not one).
    pub fn ok(&self) -> bool {
        self.level != Level::Fail
    }
}
