//! Fast, allocation-free pre-filter: does the text contain any trigger word?
//!
//! The text is lowercased (ASCII only) into a fixed stack window and searched
//! with one SIMD `memmem` finder per trigger; windows overlap by the longest
//! trigger so that a word straddling two windows is still seen.

use memchr::memmem::Finder;

/// Trigger substrings (lowercase). Every rule of the redactor starts at a token
/// that contains one of these, so "no trigger" means "nothing to redact".
const TRIGGERS: [&[u8]; 11] = [
    b"passw",       // password, passwd, master_password, sp_password, @rmtpassword, …
    b"pwd",         // ODBC `Pwd=`, pwdencrypt, @newpwd
    b"identified",  // IDENTIFIED BY / VIA / WITH
    b"secret",      // SECRET = '…', WITH SECRET
    b"sp_",         // verified against PROCS below
    b"://",         // scheme://user:password@host
    b"crypt",       // crypt(), [aes_|des_|pgp_sym_]encrypt/decrypt, DBMS_CRYPTO, …bypassphrase
    b"hmac",        // pgcrypto hmac(data, key, type)
    b"encode",      // MySQL/MariaDB ENCODE(str, pass_str)
    b"decode",      // MySQL/MariaDB DECODE(crypt_str, pass_str)
    b"_credential", // DBMS_CREDENTIAL / DBMS_CLOUD .CREATE_CREDENTIAL, UPDATE_CREDENTIAL
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
const _: () = assert!(TRIGGERS.len() == PREFIXES.len());
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
        // Enrichment asks about every short text field of every event: a
        // single byte pass rules most of them out without the finders.
        if !may_hold_trigger(b) {
            return false;
        }
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

/// Every case variant of the first two bytes of each trigger, as a bitset
/// over `(byte << 8) | next byte`.
const BIGRAMS: [u64; 1024] = {
    let mut t = [0u64; 1024];
    let mut p = 0;
    while p < PREFIXES.len() {
        let (a, b) = (PREFIXES[p][0], PREFIXES[p][1]);
        let va = [a, a.to_ascii_uppercase()];
        let vb = [b, b.to_ascii_uppercase()];
        let mut i = 0;
        while i < 2 {
            let mut j = 0;
            while j < 2 {
                let k = ((va[i] as usize) << 8) | vb[j] as usize;
                t[k >> 6] |= 1 << (k & 63);
                j += 1;
            }
            i += 1;
        }
        p += 1;
    }
    t
};

/// The first three bytes of every trigger (lowercase).
const PREFIXES: [&[u8; 3]; 11] = [
    b"pas", b"pwd", b"ide", b"sec", b"sp_", b"://", b"cry", b"hma", b"enc", b"dec", b"_cr",
];

/// Cheap necessary condition for [`Triggers::any`]: some position starts
/// with the first three bytes of a trigger, ASCII case-insensitively. A
/// branch-free bigram lookup per byte; false positives are fine, a false
/// negative is impossible because every trigger starts with one of these.
fn may_hold_trigger(b: &[u8]) -> bool {
    if b.len() < 3 {
        return false;
    }
    for i in 0..b.len() - 2 {
        let k = ((b[i] as usize) << 8) | b[i + 1] as usize;
        if BIGRAMS[k >> 6] >> (k & 63) & 1 == 0 {
            continue;
        }
        // One branch per first byte (a jump table), not a loop over PREFIXES.
        let (c1, c2) = (b[i + 1].to_ascii_lowercase(), b[i + 2].to_ascii_lowercase());
        let hit = match b[i].to_ascii_lowercase() {
            b'p' => matches!((c1, c2), (b'a', b's') | (b'w', b'd')),
            b'i' => c2 == b'e',
            b's' => matches!((c1, c2), (b'e', b'c') | (b'p', b'_')),
            b'c' => c2 == b'y',
            b'h' => c2 == b'a',
            b'e' | b'd' => c2 == b'c',
            b'_' => c2 == b'r',
            _ => c2 == b'/',
        };
        if hit {
            return true;
        }
    }
    false
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
    fn prefilter_never_hides_a_trigger() {
        for t in TRIGGERS.iter().chain(PROCS.iter()).chain([&LONGEST]) {
            let upper = t.to_ascii_uppercase();
            let mixed: Vec<u8> = t
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        *c
                    }
                })
                .collect();
            for v in [t.to_vec(), upper, mixed] {
                let mut s = b"xx ".to_vec();
                s.extend_from_slice(&v);
                assert!(may_hold_trigger(&s), "{}", String::from_utf8_lossy(&s));
                assert!(may_hold_trigger(&v), "{}", String::from_utf8_lossy(&v));
            }
        }
        assert!(!may_hold_trigger(b"LOG"));
        assert!(!may_hold_trigger(b"client backend"));
        let t = Triggers::new();
        for s in [
            "SELECT 1",
            "ALTER ROLE x PASSWORD 'y'",
            "a://b",
            "Pwd=1",
            "sp_addlogin",
            "x",
        ] {
            let mut buf = [0u8; SMALL];
            assert_eq!(t.any(s.as_bytes()), t.any_in(s.as_bytes(), &mut buf), "{s}");
        }
    }

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
