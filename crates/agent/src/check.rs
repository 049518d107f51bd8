//! `onetrail check`: what can be validated without running (files matched
//! and readable, sinks buildable and their credentials accepted, data_dir
//! writable) and what works but exposes the audit trail or its secrets.

use std::collections::BTreeMap;
use std::path::Path;

use onetrail_core::files;
use onetrail_sinks::{self as sinks, Sink};

use crate::config::{self, Config, SinkType};
use crate::findings::{Finding, Level};
use crate::{formats, pollers, sample, tail};

/// Validate what can be validated without running: files matched and
/// readable, sinks buildable, data_dir writable; and warn about what works
/// but exposes the audit trail or its secrets. `config_path` (the file `cfg`
/// came from) is checked for being readable by others.
pub fn check(cfg: &Config, config_path: Option<&Path>) -> Vec<Finding> {
    let mut f = Findings::default();
    if let Some(p) = config_path {
        f.warn_if_exposed("config", "the configuration file", p);
    }
    // `check` changes nothing on disk: it probes, it does not create.
    match check_dir_writable(&cfg.data_dir) {
        Ok(msg) => f.push(true, "data_dir", msg),
        Err(e) => f.push(
            false,
            "data_dir",
            format!("{e} (the agent keeps its checkpoints there)"),
        ),
    }
    for (name, sc) in &cfg.sources {
        let s = &sc.value;
        let subject = format!("source {name}");
        if let Some(p) = &s.password_file {
            f.warn_if_exposed(&subject, "the secret file `password_file`", p);
        }
        if s.kind.is_poller() {
            // No files to match; the database is reached when the agent polls.
            match pollers::validate(cfg, name) {
                Ok(()) => f.push(true, &subject, "polling source configured".into()),
                Err(e) => f.push(false, &subject, e),
            }
            continue;
        }
        let mut matched = BTreeMap::new();
        for pat in &s.paths {
            match glob::glob(pat) {
                Ok(it) => {
                    for p in it.flatten() {
                        // Never a plain open: a FIFO would block `check` forever.
                        let readable = files::open_regular(&p).map(drop);
                        matched.insert(p, readable);
                    }
                }
                Err(e) => f.push(false, &subject, format!("bad glob {pat:?}: {e}")),
            }
        }
        for pat in &s.paths {
            if let Some((dir, why)) = tail::denied_dir_of(pat) {
                f.push(
                    false,
                    &subject,
                    format!(
                        "cannot list {}: permission denied{why}, so {pat:?} finds no file (add the agent's user to the group that owns the logs, e.g. `adm` or `postgres`, and make the directory group-readable)",
                        dir.display()
                    ),
                );
            }
        }
        if matched.is_empty() {
            f.push(
                false,
                &subject,
                format!(
                    "no file matches {:?} yet (the agent waits for them; check the path and the server's log settings)",
                    s.paths
                ),
            );
        }
        let collects = matched.values().any(Result::is_ok);
        for (p, r) in matched {
            match r {
                Ok(()) => f.push(true, &subject, format!("{} is readable", p.display())),
                Err(files::NotRegular::Kind(kind)) if kind == "directory" && !collects => f.push(
                    false,
                    &subject,
                    format!(
                        "{} is a directory: the agent tails files, not directories, and collects nothing; use a glob such as \"{}/*.log\"",
                        p.display(),
                        p.display()
                    ),
                ),
                Err(files::NotRegular::Kind(kind)) => f.warn(
                    &subject,
                    format!(
                        "{} is a {kind}, not a regular file: the agent skips it (only regular files are tailed)",
                        p.display()
                    ),
                ),
                Err(files::NotRegular::Io(e)) => f.push(
                    false,
                    &subject,
                    format!(
                        "{} is not readable: {e}{} (add the agent's user to the log files' group, e.g. `adm`, `postgres` or `mysql`)",
                        p.display(),
                        files::access_detail(&p)
                    ),
                ),
            }
        }
        match formats::build(cfg, name) {
            Ok((fm, _)) => f.push(true, &subject, format!("format {} ready", fm.name())),
            Err(e) => f.push(false, &subject, e),
        }
        // Read real lines: the newest file says whether format and prefix fit.
        if let (Some(file), Ok((fmt_name, mut fopts))) = (
            sample::newest_file(&s.paths),
            formats::source_format(cfg, name),
        ) {
            // `auto` is judged on the sample itself, not resolved again.
            if s.log_line_prefix
                .as_ref()
                .is_some_and(|p| p.value == "auto")
            {
                fopts.log_line_prefix = Some("auto".into());
            }
            for (level, msg) in sample::check_file(fmt_name, &fopts, &file) {
                f.add(level, &subject, msg);
            }
        }
    }
    for (name, sc) in &cfg.sinks {
        let subject = format!("sink {name}");
        let s = &sc.value;
        let sasl_file = s.sasl.as_ref().and_then(|a| a.password_file.clone());
        for (key, p) in [
            ("token_file", &s.token_file),
            ("api_key_file", &s.api_key_file),
            ("sasl.password_file", &sasl_file),
        ] {
            if let Some(p) = p {
                f.warn_if_exposed(&subject, &format!("the secret file `{key}`"), p);
            }
        }
        if matches!(s.kind, SinkType::SplunkHec | SinkType::Datadog) {
            if s.tls.verify == Some(false) {
                f.warn(
                    &subject,
                    "tls.verify is false: the receiver's certificate is NOT checked; anyone on the path can read and change the audit trail (use `tls.ca_file` for a private CA)".into(),
                );
            }
            if let Some(host) = s.endpoint.as_deref().and_then(cleartext_remote_host) {
                f.warn(
                    &subject,
                    format!(
                        "the endpoint is cleartext http:// to {host}, another host: audit events and the credentials cross the network unencrypted; use https://"
                    ),
                );
            }
        }
        if s.kind == SinkType::Syslog
            && !matches!(
                s.protocol,
                crate::config::SyslogProtocol::Tls | crate::config::SyslogProtocol::RelpTls
            )
            && let Some(addr) = &s.address
            && let Some(host) = cleartext_remote_host(&format!("http://{}", addr.trim()))
        {
            f.warn(
                &subject,
                format!(
                    "`protocol: {}` to {host}, another host: audit events cross the network unencrypted; use `protocol: tls`",
                    match s.protocol {
                        crate::config::SyslogProtocol::Tcp => "tcp",
                        crate::config::SyslogProtocol::Relp => "relp",
                        _ => "udp",
                    }
                ),
            );
        }
        if s.kind == SinkType::Kafka
            && s.tls.enabled == Some(false)
            && let Some(host) = s
                .brokers
                .iter()
                .find_map(|b| cleartext_remote_host(&format!("http://{}", b.trim())))
        {
            f.warn(
                &subject,
                format!(
                    "`tls.enabled: false` to {host}, another host: audit events{} cross the network unencrypted",
                    if s.sasl.is_some() {
                        " and the SASL password"
                    } else {
                        ""
                    }
                ),
            );
        }
        if s.kind == SinkType::File {
            let path = s.path.clone().unwrap_or_default();
            let r = if path.exists() {
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map(|_| format!("{} is writable", path.display()))
                    .map_err(|e| format!("{} is not writable: {e}", path.display()))
            } else {
                check_dir_writable(path.parent().unwrap_or(Path::new(".")))
                    .map(|_| format!("{} will be created", path.display()))
            };
            match r {
                Ok(m) => f.push(true, &subject, m),
                Err(e) => f.push(false, &subject, e),
            }
            continue;
        }
        match Sink::build(name, s, &cfg.data_dir) {
            Ok(sink) => {
                let (level, msg) = probe_sink(sink);
                f.add(level, &subject, msg);
            }
            Err(e) => f.push(false, &subject, e),
        }
    }
    f.0
}

/// The findings of one `check`, in order.
#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, level: Level, subject: &str, message: String) {
        self.0.push(Finding {
            level,
            subject: subject.to_string(),
            // Endpoints may be quoted (probe results): never their credentials.
            message: config::mask_url_credentials(&message).into_owned(),
        });
    }

    /// Ok or Fail.
    fn push(&mut self, ok: bool, subject: &str, message: String) {
        self.add(if ok { Level::Ok } else { Level::Fail }, subject, message);
    }

    fn warn(&mut self, subject: &str, message: String) {
        self.add(Level::Warn, subject, message);
    }

    /// Warn when `path` (a secret, the configuration) is readable by others.
    fn warn_if_exposed(&mut self, subject: &str, what: &str, path: &Path) {
        if files::readable_by_others(path).unwrap_or(false) {
            self.warn(
                subject,
                format!(
                    "{what} {p} is readable by every user of this host: `chmod o-rwx {p}` (e.g. mode 0640, owner root, group onetrail)",
                    p = path.display()
                ),
            );
        }
    }
}

/// The host of a cleartext `http://` endpoint when it is not this host
/// (loopback): traffic to it crosses a network unencrypted.
fn cleartext_remote_host(endpoint: &str) -> Option<String> {
    let e = endpoint.trim();
    let rest = e
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("http://"))
        .map(|_| &e[7..])?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match hostport.strip_prefix('[') {
        Some(v6) => &v6[..v6.find(']').unwrap_or(v6.len())],
        None => hostport.split(':').next().unwrap_or(""),
    };
    let local = host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!local).then(|| host.to_string())
}

/// `check`'s probe of a sink: Splunk HEC proves its token with an empty
/// event request, Datadog validates its API key ([`sinks::Probe`]). Sends no
/// event and writes nothing. A receiver that cannot prove the credentials
/// (an explicit Datadog `endpoint:`) gives a warning that says so.
fn probe_sink(sink: Sink) -> (Level, String) {
    let run = move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                return (
                    Level::Fail,
                    format!("cannot start a runtime for the probe: {e}"),
                );
            }
        };
        rt.block_on(async move {
            let (label, r) = match sink {
                Sink::SplunkHec(s) => ("Splunk HEC", s.probe().await),
                Sink::Datadog(d) => ("Datadog", d.probe().await),
                Sink::Syslog(s) => ("syslog", s.probe().await),
                Sink::Kafka(s) => ("Kafka", s.probe().await),
                Sink::File(_) | Sink::Stdout(_) => return (Level::Ok, "ready".to_string()),
            };
            match r {
                Ok(sinks::Probe::Verified(m)) => (Level::Ok, format!("{label}: {m}")),
                Ok(sinks::Probe::Unverified(m)) => (Level::Warn, format!("{label}: {m}")),
                Err(m) => (Level::Fail, format!("{label}: {m}")),
            }
        })
    };
    // Its own thread: `check` may be called from inside a runtime.
    std::thread::spawn(run)
        .join()
        .unwrap_or_else(|_| (Level::Fail, "the probe panicked".into()))
}

/// Whether the agent could write in `dir` (or create it), without creating
/// anything: an existing directory gets a probe file that is removed at once.
fn check_dir_writable(dir: &Path) -> Result<String, String> {
    if dir.is_dir() {
        let probe = dir.join(format!(".onetrail-check-{}", std::process::id()));
        return match std::fs::write(&probe, b"ok") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
                Ok(format!("{} is writable", dir.display()))
            }
            Err(e) => Err(format!("{} is not writable: {e}", dir.display())),
        };
    }
    if dir.exists() {
        return Err(format!("{} exists but is not a directory", dir.display()));
    }
    // Walk up to the first existing ancestor: that is where it would be created.
    let mut anc = dir.parent();
    while let Some(a) = anc {
        if a.is_dir() {
            return check_dir_writable(a)
                .map(|_| format!("{} does not exist yet and will be created", dir.display()));
        }
        anc = a.parent();
    }
    Err(format!("{} cannot be created", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleartext_endpoints_to_other_hosts_are_found() {
        let remote = |e: &str| cleartext_remote_host(e);
        assert_eq!(remote("http://splunk:8088").as_deref(), Some("splunk"));
        assert_eq!(
            remote("HTTP://u:p@10.0.0.7:8088/x").as_deref(),
            Some("10.0.0.7")
        );
        assert_eq!(
            remote("http://[2001:db8::1]:80").as_deref(),
            Some("2001:db8::1")
        );
        for local in [
            "http://127.0.0.1:8088",
            "http://127.8.9.1",
            "http://localhost:8080/",
            "http://[::1]:8088",
            "http://u:p@localhost",
            "https://splunk:8088",
        ] {
            assert_eq!(remote(local), None, "{local}");
        }
    }
}
