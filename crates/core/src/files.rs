//! How the agent opens what it reads and creates what it writes.
//!
//! - **Reading**: only regular files are tailed. A FIFO would block `open`
//!   and `read` forever, a device such as `/dev/zero` never ends, a directory
//!   cannot be read: [`open_regular`] looks at the path first, opens with
//!   `O_NONBLOCK` (a FIFO swapped in between cannot block the open) and
//!   checks the opened descriptor again with `fstat`.
//! - **Writing**: checkpoints, chain state, dead letters, file sink output
//!   and the HEC channel hold audit data and statements. Everything the
//!   agent creates is `0640` (files) or `0750` (directories) *whatever the
//!   umask*: the mode is passed to `open(2)`/`mkdir(2)` (a umask can only
//!   remove bits), and files replaced atomically get it again with `fchmod`
//!   (a leftover temp file keeps the mode it was created with). Existing
//!   files that are appended to keep theirs: that is the administrator's.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of the files the agent creates.
pub const FILE_MODE: u32 = 0o640;
/// Mode of the directories the agent creates.
pub const DIR_MODE: u32 = 0o750;

/// What a path is, in words, when it is not a regular file.
pub fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_file() {
        "regular file"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "FIFO (named pipe)"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

/// Why a path is not tailed: it is no regular file.
#[derive(Debug)]
pub enum NotRegular {
    /// `stat`/`open` failed.
    Io(io::Error),
    /// The path (after symlinks) is this kind of file.
    Kind(String),
}

impl std::fmt::Display for NotRegular {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotRegular::Io(e) => write!(f, "{e}"),
            NotRegular::Kind(k) => write!(
                f,
                "is a {k}, not a regular file (only regular files are tailed)"
            ),
        }
    }
}

/// What `path` is when it is not a regular file: `"symbolic link to a
/// character device"`, `"FIFO (named pipe)"`; `None` for a regular file (or a
/// link to one). Never opens the path.
pub fn special_kind(path: &Path) -> io::Result<Option<String>> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(None);
    }
    let kind = kind_of(meta.file_type());
    let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    Ok(Some(if link {
        format!("symbolic link to a {kind}")
    } else {
        kind.to_string()
    }))
}

/// Open `path` for reading if it is a regular file, without ever blocking.
pub fn open_regular(path: &Path) -> Result<File, NotRegular> {
    if let Some(kind) = special_kind(path).map_err(NotRegular::Io)? {
        return Err(NotRegular::Kind(kind));
    }
    // O_NONBLOCK: the path may have become a FIFO since the `stat`. It has no
    // effect on reading a regular file.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(NotRegular::Io)?;
    let meta = file.metadata().map_err(NotRegular::Io)?;
    if !meta.is_file() {
        return Err(NotRegular::Kind(kind_of(meta.file_type()).to_string()));
    }
    Ok(file)
}

/// Who the agent runs as and what `path` allows, for a permission error:
/// `" (the agent runs as user nobody, uid 65534; /x is mode 0700, owner postgres, group postgres)"`.
/// Empty when `path` cannot even be looked at (its directory says why).
pub fn access_detail(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid(2) cannot fail.
    let uid = unsafe { libc::geteuid() };
    let me = match user_name(uid) {
        Some(n) => format!("user {n}, uid {uid}"),
        None => format!("uid {uid}"),
    };
    match std::fs::metadata(path) {
        Ok(m) => format!(
            " (the agent runs as {me}; {} is mode {:04o}, owner {}, group {})",
            path.display(),
            m.mode() & 0o7777,
            user_name(m.uid()).unwrap_or_else(|| m.uid().to_string()),
            group_name(m.gid()).unwrap_or_else(|| m.gid().to_string()),
        ),
        Err(_) => format!(" (the agent runs as {me})"),
    }
}

/// The first ancestor directory of `path` (or `path` itself, a directory)
/// that the agent may not enter or list, with its details.
pub fn first_denied_dir(path: &Path) -> Option<(std::path::PathBuf, String)> {
    let mut cur = std::path::PathBuf::new();
    for comp in path.components() {
        let parent = cur.clone();
        cur.push(comp);
        match std::fs::metadata(&cur) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Some((parent.clone(), access_detail(&parent)));
            }
            Err(_) => return None,
            Ok(m) if !m.is_dir() => return None,
            Ok(_) => {}
        }
    }
    match std::fs::read_dir(&cur) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            let d = access_detail(&cur);
            Some((cur, d))
        }
        _ => None,
    }
}

fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: getpwuid_r(3) writes into `pwd` and `buf`, both ours and sized.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut res: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut res);
        if rc != 0 || res.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

fn group_name(gid: u32) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: getgrgid_r(3) writes into `grp` and `buf`, both ours and sized.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut res: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr().cast(), buf.len(), &mut res);
        if rc != 0 || res.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(grp.gr_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// `mkdir -p` with mode `0750` for every directory it creates.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Open `path` for appending (`read` too when asked), created with mode
/// `0640` (and its directory with `0750`) when missing.
pub fn open_append(path: &Path, read: bool) -> io::Result<File> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(read)
        .mode(FILE_MODE)
        .open(path)
}

/// Replace `path` with `bytes` atomically: write `tmp` (mode `0640`),
/// `fsync` it, `rename` it over `path`, `fsync` the directory. A crash
/// leaves either the old content or the new one at `path` (and possibly a
/// complete `tmp`, which callers may prefer as the newer state).
pub fn replace_atomically(path: &Path, tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(d) = dir {
        create_dir_all(d)?;
    }
    {
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(tmp)?;
        // A temp file left over by an older version keeps its old mode.
        f.set_permissions(Permissions::from_mode(FILE_MODE))?;
        f.write_all(bytes)?;
        // Data must be on disk before the rename makes it the current state.
        f.sync_all()?;
    }
    std::fs::rename(tmp, path)?;
    // The rename itself must survive a power loss.
    if let Ok(d) = File::open(dir.unwrap_or(Path::new("."))) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Whether others (not owner, not group) may read `path`: a secret file or
/// a configuration holding secrets should not be.
pub fn readable_by_others(path: &Path) -> io::Result<bool> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o004 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn special_files_are_named_and_never_opened_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) on a path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Without a writer, a plain open of a FIFO blocks forever: this
        // returns at once.
        let e = open_regular(&fifo).unwrap_err().to_string();
        assert!(e.contains("FIFO"), "{e}");
        let e = open_regular(d.path()).unwrap_err().to_string();
        assert!(e.contains("directory"), "{e}");
        let zero = d.path().join("zero.log");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert_eq!(
            special_kind(&zero).unwrap().as_deref(),
            Some("symbolic link to a character device")
        );
        assert!(open_regular(&zero).is_err());
        let f = d.path().join("ok.log");
        std::fs::write(&f, b"x\n").unwrap();
        assert!(open_regular(&f).is_ok());
        assert_eq!(special_kind(&f).unwrap(), None);
    }

    #[test]
    fn created_files_and_dirs_are_private_whatever_the_umask() {
        // umask is per process: 000 here is the worst case (it would give
        // 0666/0777 to default-mode files) and cannot hide a missing mode.
        // SAFETY: umask(2) cannot fail; other tests in this binary that
        // create files only become more permissive meanwhile.
        let old = unsafe { libc::umask(0) };
        let d = tempfile::tempdir().unwrap();
        let nested = d.path().join("a/b");
        create_dir_all(&nested).unwrap();
        let appended = d.path().join("c/dead.jsonl");
        open_append(&appended, false).unwrap();
        let replaced = d.path().join("e/state.json");
        let tmp = d.path().join("e/state.json.tmp");
        std::fs::create_dir_all(d.path().join("e")).unwrap();
        std::fs::write(&tmp, b"old").unwrap(); // leftover, 0666 under umask 0
        replace_atomically(&replaced, &tmp, b"{}").unwrap();
        unsafe { libc::umask(old) };
        assert_eq!(mode(&d.path().join("a")), 0o750);
        assert_eq!(mode(&nested), 0o750);
        assert_eq!(mode(&d.path().join("c")), 0o750);
        assert_eq!(mode(&appended), 0o640);
        assert_eq!(mode(&replaced), 0o640);
        assert_eq!(std::fs::read(&replaced).unwrap(), b"{}");
        assert!(!tmp.exists());
    }
}
