//! Fast, allocation-free pre-filter: does the text contain any trigger word?
//!
//! The text is lowercased (ASCII only) into a fixed stack window and searched
//! with one SIMD `memmem` finder per trigger; windows overlap by the longest
//! trigger so that a word straddling two windows is still seen.

use memchr::memmem::Finder;

/// Trigger substrings (lowercase). Every rule of the redactor starts at a token
/// that contains one of these, so "no trigger" means "nothing to redact".
const TRIGGERS: [&[u8]; 6] = [
    b"passw",      // password, passwd, master_password, sp_password, @rmtpassword, …
    b"pwd",        // ODBC `Pwd=`, pwdencrypt, @newpwd
    b"identified", // IDENTIFIED BY / VIA / WITH
    b"secret",     // SECRET = '…', WITH SECRET
    b"sp_",        // verified against PROCS below
    b"://",        // scheme://user:password@host
];

/// Stored procedures that take a password positionally (see `rules`).
pub(crate) const PROCS: [&[u8]; 4] = [
    b"sp_addlogin",
    b"sp_addlinkedsrvlogin",
    b"sp_setapprole",
    b"sp_addapprole",
];
// `sp_change_users_login` is matched too (checked separately below because it
// is the longest name and fixes the window overlap).
const LONGEST: &[u8] = b"sp_change_users_login";

const WINDOW: usize = 4096;
const SMALL: usize = 512;
const SP_IDX: usize = 4;
const OVERLAP: usize = LONGEST.len();

pub(crate) struct Triggers {
    finders: Vec<Finder<'static>>,
}

impl Triggers {
    pub fn new() -> Triggers {
        Triggers {
            finders: TRIGGERS.iter().map(|t| Finder::new(*t)).collect(),
        }
    }

    /// True when `b` contains (ASCII case-insensitively) a trigger.
    pub fn any(&self, b: &[u8]) -> bool {
        // Most statements are short: avoid initialising a large window for them.
        if b.len() <= SMALL {
            let mut buf = [0u8; SMALL];
            return self.any_in(b, &mut buf);
        }
        let mut buf = [0u8; WINDOW];
        self.any_in(b, &mut buf)
    }

    fn any_in(&self, b: &[u8], buf: &mut [u8]) -> bool {
        let win = buf.len();
        let mut pos = 0;
        loop {
            let end = (pos + win).min(b.len());
            let chunk = &b[pos..end];
            let w = &mut buf[..chunk.len()];
            for (d, s) in w.iter_mut().zip(chunk) {
                *d = s.to_ascii_lowercase();
            }
            let w = &buf[..chunk.len()];
            for (idx, f) in self.finders.iter().enumerate() {
                if idx == SP_IDX {
                    for hit in f.find_iter(w) {
                        if is_proc_at(&b[pos + hit..]) {
                            return true;
                        }
                    }
                } else if f.find(w).is_some() {
                    return true;
                }
            }
            if end == b.len() {
                return false;
            }
            pos = end - OVERLAP;
        }
    }
}

fn is_proc_at(b: &[u8]) -> bool {
    PROCS
        .iter()
        .chain(std::iter::once(&LONGEST))
        .any(|p| b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_triggers_case_insensitively() {
        let t = Triggers::new();
        assert!(t.any(b"ALTER ROLE x PassWord 'y'"));
        assert!(t.any(b"create user u IDENTIFIED by p"));
        assert!(t.any(b"EXEC SP_ADDLOGIN 'a','b'"));
        assert!(t.any(b"exec sp_change_users_login 'Auto_Fix','u',NULL,'p'"));
        assert!(t.any(b"x postgres://u:p@h/db"));
        assert!(!t.any(b"SELECT * FROM accounts WHERE id = 1"));
        assert!(!t.any(b"EXEC sp_executesql N'SELECT 1'"));
        assert!(!t.any(b""));
    }

    #[test]
    fn finds_trigger_across_window_boundary() {
        let t = Triggers::new();
        for shift in 0..20 {
            let mut s = vec![b'a'; WINDOW - 4 + shift];
            s.extend_from_slice(b"PASSWORD 'x'");
            assert!(t.any(&s), "shift {shift}");
            let mut s = vec![b'a'; WINDOW * 2 - 10 + shift];
            s.extend_from_slice(b"sp_change_users_login");
            assert!(t.any(&s), "proc shift {shift}");
        }
    }
}
