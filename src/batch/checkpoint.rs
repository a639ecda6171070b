//! The checkpoint beside `--out`: how far a run got, written atomically after the data it
//! describes is on disk, so it is consistent with the files even after `kill -9`.
//!
//! Files for `--out OUT`: `OUT.partial` (the output being written, renamed to `OUT` at the
//! end), `OUT.checkpoint` (this state, JSON), and the rejects file. On `--resume`, the
//! partial output and the rejects are truncated to the recorded lengths and that many input
//! records are skipped.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::input::Layout;
use super::{with_suffix, BatchFormat, BatchOptions};
use crate::error::{CliError, Exit};

pub const VERSION: u32 = 1;

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
}

fn usage(msg: String) -> CliError {
    CliError::usage(msg)
}

/// Look for a checkpoint; refuse to overwrite one without `--resume`/`--restart`.
pub fn prepare(opts: &BatchOptions) -> Result<Files, CliError> {
    let Some(out) = &opts.out else {
        return Ok(Files {
            rejects: opts.rejects.clone(),
            ..Default::default()
        });
    };
    let checkpoint = with_suffix(out, ".checkpoint");
    let partial = with_suffix(out, ".partial");
    let mut files = Files {
        out: Some(out.clone()),
        partial: Some(partial.clone()),
        checkpoint: Some(checkpoint.clone()),
        rejects: opts.rejects.clone(),
        resume: None,
    };
    let exists = checkpoint.exists();
    if exists && opts.restart {
        for p in [&checkpoint, &partial] {
            if let Err(e) = std::fs::remove_file(p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(CliError::new(
                        Exit::Failure,
                        format!("--restart: cannot remove {}: {e}", p.display()),
                    ));
                }
            }
        }
        return Ok(files);
    }
    if exists && !opts.resume {
        return Err(usage(format!(
            "{} holds the checkpoint of an interrupted run into {}",
            checkpoint.display(),
            out.display()
        ))
        .hint("continue it: add --resume; or start over: add --restart"));
    }
    if !exists {
        if opts.resume {
            return Err(usage(format!(
                "nothing to resume: no checkpoint at {}",
                checkpoint.display()
            ))
            .hint("run without --resume to start"));
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
            "{} is not a checkpoint iris-cli can read: {e}",
            checkpoint.display()
        ))
        .hint("start over with --restart")
    })?;
    if state.version != VERSION {
        return Err(usage(format!(
            "{} was written by another version of iris-cli (checkpoint version {})",
            checkpoint.display(),
            state.version
        ))
        .hint("start over with --restart"));
    }
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    if len(&partial) < state.out_bytes {
        return Err(usage(format!(
            "cannot resume: {} is shorter ({} bytes) than the checkpoint records ({})",
            partial.display(),
            len(&partial),
            state.out_bytes
        ))
        .hint("start over with --restart"));
    }
    if let Some(r) = &opts.rejects {
        if len(r) < state.rejects_bytes {
            return Err(usage(format!(
                "cannot resume: {} is shorter ({} bytes) than the checkpoint records ({})",
                r.display(),
                len(r),
                state.rejects_bytes
            ))
            .hint("start over with --restart"));
        }
    }
    files.resume = Some(state);
    Ok(files)
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
        };
        write_atomic(&p, &state).unwrap();
        let back: State = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(back, state);
        assert!(!with_suffix(&p, ".tmp").exists());
    }
}
