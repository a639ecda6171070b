//! The checkpoint beside `--out`: how far a run got, written atomically after the data it
//! describes is on disk, so it is consistent with the files even after `kill -9`.
//!
//! Files for `--out OUT`: `OUT.partial` (the output being written, renamed to `OUT` at the
//! end), `OUT.checkpoint` (this state, JSON), and the rejects file. On `--resume`, the
//! partial output and the rejects are truncated to the recorded lengths and that many input
//! records are skipped.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::input::Layout;
use super::{with_suffix, BatchFormat, BatchOptions};
use crate::error::{CliError, Exit};

/// 2: the prefixes' SHA-256 (a version-1 checkpoint is refused: it cannot be checked).
pub const VERSION: u32 = 2;

/// Bytes of the input hashed into its identity.
const HEAD_BYTES: u64 = 1 << 20;

/// Which input a checkpoint belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub path: String,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: u64,
    /// SHA-256 of the first MiB.
    pub head_sha256: String,
}

impl Identity {
    pub fn of(path: &Path, meta: &std::fs::Metadata) -> anyhow::Result<Identity> {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let mut head = Vec::new();
        if meta.is_file() {
            std::fs::File::open(path)?
                .take(HEAD_BYTES)
                .read_to_end(&mut head)?;
        }
        Ok(Identity {
            path: canonical.display().to_string(),
            size: meta.len(),
            mtime_ns,
            head_sha256: hex::encode(Sha256::digest(&head)),
        })
    }
}

/// Progress of a run with file output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub input: Identity,
    /// Everything that changes the output's bytes (see [`fingerprint`]).
    pub options: BTreeMap<String, Value>,
    /// Input records done (written to the output or the rejects).
    pub rows_done: u64,
    /// Length of `OUT.partial` holding exactly those rows.
    pub out_bytes: u64,
    /// Length of the rejects file holding exactly those rows' rejects.
    pub rejects_bytes: u64,
    /// SHA-256 of those `out_bytes` bytes of `OUT.partial`.
    pub out_sha256: String,
    /// SHA-256 of those `rejects_bytes` bytes of the rejects file.
    pub rejects_sha256: String,
}

/// The options that decide the output's bytes. Concurrency, rows per request, rate and
/// retries do not: they may change between an interrupted run and its resumption.
pub fn fingerprint(layout: &Layout, opts: &BatchOptions) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    m.insert("header".into(), json!(layout.has_header));
    m.insert("columns".into(), json!(layout.names));
    m.insert(
        "features".into(),
        json!(layout.features.iter().map(|i| i + 1).collect::<Vec<_>>()),
    );
    m.insert(
        "output".into(),
        json!(match opts.format {
            BatchFormat::Csv => "csv",
            BatchFormat::Jsonl => "jsonl",
        }),
    );
    m.insert("classes".into(), json!(opts.classes));
    m.insert("allow_missing".into(), json!(opts.allow_missing));
    m.insert(
        "rejects".into(),
        json!(opts
            .rejects
            .as_ref()
            .map(|p| absolute(p).display().to_string())),
    );
    m
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The files of a run and, for `--resume`, the state to continue from.
#[derive(Debug, Default, Clone)]
pub struct Files {
    pub out: Option<PathBuf>,
    pub partial: Option<PathBuf>,
    pub checkpoint: Option<PathBuf>,
    pub rejects: Option<PathBuf>,
    pub resume: Option<State>,
    /// `FILE.partial`, open and exclusively locked for the whole run: a second run writing
    /// the same `--out` fails at once instead of interleaving with this one.
    pub partial_lock: Option<Arc<File>>,
    /// With `--resume`: the hashes of the output and rejects prefixes the checkpoint vouches
    /// for, checked, to continue from (see [`verify_prefixes`]).
    pub hashes: Option<(Sha256, Sha256)>,
    /// This run created `FILE.partial` (to lock it): removed again if the run fails before
    /// writing to it (see [`Files::forget_partial`]).
    pub created_partial: bool,
}

impl Files {
    /// A run refused before its writer started: leave no empty `FILE.partial` behind.
    pub fn forget_partial(&self) {
        if let (true, Some(p)) = (self.created_partial, &self.partial) {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn usage(msg: String) -> CliError {
    CliError::usage(msg)
}

/// Open `partial` (created if missing, never truncated here) and lock it exclusively.
fn lock_partial(partial: &Path, out: &Path) -> Result<File, CliError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(partial)
        .map_err(|e| {
            CliError::new(
                Exit::Failure,
                format!("cannot open {}: {e}", partial.display()),
            )
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(CliError::new(
            Exit::Failure,
            format!(
                "another iris-cli batch is writing {} ({} is locked)",
                out.display(),
                partial.display()
            ),
        )
        .hint("wait for it to finish, or give this run another --out")),
        // A file system without locks (some network mounts): run unlocked, as before.
        Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
            Ok(file)
        }
        Err(std::fs::TryLockError::Error(e)) => Err(CliError::new(
            Exit::Failure,
            format!("cannot lock {}: {e}", partial.display()),
        )),
    }
}

/// Lock the partial output, look for a checkpoint, refuse to overwrite one without
/// `--resume`/`--restart`.
pub fn prepare(opts: &BatchOptions) -> Result<Files, CliError> {
    let Some(out) = &opts.out else {
        return Ok(Files {
            rejects: opts.rejects.clone(),
            ..Default::default()
        });
    };
    let checkpoint = with_suffix(out, ".checkpoint");
    let partial = with_suffix(out, ".partial");
    let existed = partial.exists();
    // Before anything else touches the run's files.
    let lock = Arc::new(lock_partial(&partial, out)?);
    let mut files = Files {
        out: Some(out.clone()),
        partial: Some(partial.clone()),
        checkpoint: Some(checkpoint.clone()),
        rejects: opts.rejects.clone(),
        resume: None,
        partial_lock: Some(lock.clone()),
        hashes: None,
        created_partial: !existed,
    };
    let refuse = |err: CliError| {
        // Leave no empty FILE.partial behind a refused run.
        if !existed {
            let _ = std::fs::remove_file(&partial);
        }
        err
    };
    let exists = checkpoint.exists();
    if exists && opts.restart {
        // The partial file is truncated through the locked handle (removing it would let
        // another run lock a new one while this one still writes).
        if let Err(e) = std::fs::remove_file(&checkpoint) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(CliError::new(
                    Exit::Failure,
                    format!("--restart: cannot remove {}: {e}", checkpoint.display()),
                ));
            }
        }
        lock.set_len(0).map_err(|e| {
            CliError::new(
                Exit::Failure,
                format!("--restart: cannot truncate {}: {e}", partial.display()),
            )
        })?;
        return Ok(files);
    }
    if exists && !opts.resume {
        return Err(refuse(
            usage(format!(
                "{} holds the checkpoint of an interrupted run into {}",
                checkpoint.display(),
                out.display()
            ))
            .hint("continue it: add --resume; or start over: add --restart"),
        ));
    }
    if !exists {
        if opts.resume {
            return Err(refuse(
                usage(format!(
                    "nothing to resume: no checkpoint at {}",
                    checkpoint.display()
                ))
                .hint("run without --resume to start"),
            ));
        }
        return Ok(files);
    }
    let text = std::fs::read(&checkpoint).map_err(|e| {
        CliError::new(
            Exit::Failure,
            format!("cannot read {}: {e}", checkpoint.display()),
        )
    })?;
    let state: State = serde_json::from_slice(&text).map_err(|e| {
        usage(format!(
            "cannot resume: {} is not a checkpoint iris-cli can read: {e}",
            checkpoint.display()
        ))
        .hint(RESTART_HINT)
    })?;
    if state.version != VERSION {
        return Err(usage(format!(
            "cannot resume: {} was written by another version of iris-cli (checkpoint version {})",
            checkpoint.display(),
            state.version
        ))
        .hint(RESTART_HINT));
    }
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    if len(&partial) < state.out_bytes {
        return Err(usage(format!(
            "cannot resume: {} is shorter ({} bytes) than the checkpoint records ({})",
            partial.display(),
            len(&partial),
            state.out_bytes
        ))
        .hint(RESTART_HINT));
    }
    if let Some(r) = &opts.rejects {
        if len(r) < state.rejects_bytes {
            return Err(usage(format!(
                "cannot resume: {} is shorter ({} bytes) than the checkpoint records ({})",
                r.display(),
                len(r),
                state.rejects_bytes
            ))
            .hint(RESTART_HINT));
        }
    }
    files.resume = Some(state);
    Ok(files)
}

const RESTART_HINT: &str = "start over with --restart";

/// Hashes what passes through, keeping the first bytes.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    head: Vec<u8>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        let room = (64 * 1024usize).saturating_sub(self.head.len());
        self.head.extend_from_slice(&buf[..n.min(room)]);
        Ok(n)
    }
}

/// SHA-256 of the first `len` bytes of `path`, how many records they hold (CSV records,
/// quoted line breaks included; for JSON Lines, lines), and their first bytes.
fn hash_prefix(path: &Path, len: u64, jsonl: bool) -> std::io::Result<(Sha256, u64, Vec<u8>)> {
    let mut src = Hashing {
        inner: File::open(path)?.take(len),
        hasher: Sha256::new(),
        head: Vec::new(),
    };
    let mut records = 0u64;
    if jsonl {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            records += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        }
    } else {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&mut src);
        let mut rec = csv::ByteRecord::new();
        while rdr
            .read_byte_record(&mut rec)
            .map_err(std::io::Error::other)?
        {
            records += 1;
        }
    }
    Ok((src.hasher, records, src.head))
}

/// With `--resume`: check that the output and rejects prefixes the checkpoint vouches for are
/// what it says (lengths, SHA-256, the headers, `rows_done` rows between them) and keep their
/// hashes to continue from. Refuses (exit 2) on any mismatch: a hand-edited or stale
/// checkpoint would otherwise drop, repeat or splice rows.
pub fn verify_prefixes(files: &mut Files, out_header: &str) -> Result<(), CliError> {
    let (Some(state), Some(partial)) = (&files.resume, &files.partial) else {
        return Ok(());
    };
    let jsonl = out_header.is_empty();
    let bad = |what: String| usage(format!("cannot resume: {what}")).hint(RESTART_HINT);
    let io = |p: &Path, e: std::io::Error| {
        CliError::new(Exit::Failure, format!("cannot read {}: {e}", p.display()))
    };
    let (out_hash, out_records, out_head) =
        hash_prefix(partial, state.out_bytes, jsonl).map_err(|e| io(partial, e))?;
    if hex::encode(out_hash.clone().finalize()) != state.out_sha256 {
        return Err(bad(format!(
            "the first {} bytes of {} are not what the checkpoint recorded (edited, or written by another run)",
            state.out_bytes,
            partial.display()
        )));
    }
    if !out_head.starts_with(out_header.as_bytes()) {
        return Err(bad(format!(
            "{} does not start with the output header",
            partial.display()
        )));
    }
    let scored = out_records.saturating_sub(u64::from(!jsonl));
    let (rejects_hash, rejected) = match &files.rejects {
        Some(r) => {
            let (h, n, head) = hash_prefix(r, state.rejects_bytes, false).map_err(|e| io(r, e))?;
            if hex::encode(h.clone().finalize()) != state.rejects_sha256 {
                return Err(bad(format!(
                    "the first {} bytes of {} are not what the checkpoint recorded (edited, or written by another run)",
                    state.rejects_bytes,
                    r.display()
                )));
            }
            if !head.starts_with(super::output::REJECTS_HEADER.as_bytes()) {
                return Err(bad(format!(
                    "{} does not start with the rejects header",
                    r.display()
                )));
            }
            (h, n.saturating_sub(1))
        }
        None => (Sha256::new(), 0),
    };
    if scored + rejected != state.rows_done {
        return Err(bad(format!(
            "the checkpoint says {} rows are done but {} and the rejects hold {} ({scored} scored, {rejected} rejected)",
            state.rows_done,
            partial.display(),
            scored + rejected
        )));
    }
    files.hashes = Some((out_hash, rejects_hash));
    Ok(())
}

/// `--resume` only continues the same input with the same output-shaping options.
pub fn check_compatible(
    state: &State,
    identity: &Option<Identity>,
    layout: &Layout,
    opts: &BatchOptions,
) -> Result<(), CliError> {
    let hint = "run with the options of the interrupted run, or start over with --restart";
    let Some(id) = identity else {
        return Err(usage("cannot resume from standard input".into()));
    };
    let changed = if id.path != state.input.path {
        Some(format!(
            "the input is {} but the checkpoint is for {}",
            id.path, state.input.path
        ))
    } else if id.size != state.input.size
        || id.mtime_ns != state.input.mtime_ns
        || id.head_sha256 != state.input.head_sha256
    {
        Some(format!(
            "{} changed since the interrupted run (size, modification time or content)",
            id.path
        ))
    } else {
        None
    };
    if let Some(msg) = changed {
        return Err(usage(format!("cannot resume: {msg}")).hint(hint));
    }
    let now = fingerprint(layout, opts);
    for (key, was) in &state.options {
        let is = now.get(key).unwrap_or(&Value::Null);
        if is != was {
            return Err(usage(format!(
                "cannot resume: option '{key}' changed since the interrupted run (was {was}, now {is})"
            ))
            .hint(hint));
        }
    }
    if let Some(key) = now.keys().find(|k| !state.options.contains_key(*k)) {
        return Err(usage(format!("cannot resume: option '{key}' is new")).hint(hint));
    }
    Ok(())
}

/// Write `state` to `path` atomically: a temporary file, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, state: &State) -> std::io::Result<()> {
    let tmp = with_suffix(path, ".tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        let mut text = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
        text.push(b'\n');
        f.write_all(&text)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path);
    Ok(())
}

/// fsync the directory holding `path`, so a rename survives a power cut (best effort: not
/// every platform can open a directory).
pub fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.csv.checkpoint");
        let state = State {
            version: VERSION,
            input: Identity {
                path: "/x".into(),
                size: 1,
                mtime_ns: 2,
                head_sha256: "ab".into(),
            },
            options: BTreeMap::from([("header".to_string(), json!(true))]),
            rows_done: 10,
            out_bytes: 20,
            rejects_bytes: 30,
            out_sha256: "cd".into(),
            rejects_sha256: "ef".into(),
        };
        write_atomic(&p, &state).unwrap();
        let back: State = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(back, state);
        assert!(!with_suffix(&p, ".tmp").exists());
    }
}
