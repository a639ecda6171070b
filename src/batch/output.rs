//! The writer: a reorder buffer in front of the output and the rejects, writing rows strictly
//! in input order, and the checkpoints that make a run resumable.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};

use super::checkpoint::{self, Files, Identity, State};
use super::input::{push_csv_field, Layout, Reject, Window};
use super::progress::Counters;
use super::{BatchFormat, BatchOptions, Stop};
use crate::output::printable;

/// A finished batch: `count` input records from `start`, as output text and rejects, both in
/// input order.
#[derive(Debug)]
pub struct Done {
    pub start: u64,
    pub count: u64,
    pub out: String,
    pub scored: u64,
    pub rejects: Vec<Reject>,
}

/// `u64::MAX` until the reader reaches the end of the input; then the number of records.
pub type EofTotal = Arc<AtomicU64>;

enum Sink {
    File(BufWriter<File>),
    Stdout(BufWriter<std::io::Stdout>),
}

impl Sink {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::File(w) => w,
            Sink::Stdout(w) => w,
        }
    }

    /// Flush and, for a file, fsync.
    fn sync(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(w) => {
                w.flush()?;
                w.get_ref().sync_data()
            }
            Sink::Stdout(w) => w.flush(),
        }
    }
}

/// What the writer did.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub rows_done: u64,
    /// Every record read was written and the output is in place.
    pub complete: bool,
    /// A checkpoint describes what was written (file output).
    pub checkpointed: bool,
}

pub struct Writer {
    out: Sink,
    out_bytes: u64,
    /// SHA-256 of the `out_bytes` written so far (the checkpoint records it).
    out_hash: Sha256,
    rejects: Option<Sink>,
    rejects_bytes: u64,
    rejects_hash: Sha256,
    next: u64,
    pending: BTreeMap<u64, Done>,
    window: Arc<Window>,
    files: Files,
    base: Option<State>,
    interval: std::time::Duration,
    last_checkpoint: Instant,
    stop: Arc<Stop>,
    eof: EofTotal,
}

/// The CSV header of the output.
pub fn csv_header(layout: &Layout, classes: &[String]) -> String {
    let mut h = String::new();
    for n in &layout.names {
        push_csv_field(&mut h, n);
        h.push(',');
    }
    h.push_str("species,class_index");
    for c in classes {
        h.push(',');
        push_csv_field(&mut h, &format!("p_{c}"));
    }
    h.push('\n');
    h
}

pub const REJECTS_HEADER: &str = "line,column,reason,input\n";

fn open_resumed(path: &PathBuf, len: u64) -> anyhow::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    truncated(f, path, len)
}

fn truncated(mut f: File, path: &std::path::Path, len: u64) -> anyhow::Result<File> {
    f.set_len(len)
        .with_context(|| format!("cannot truncate {}", path.display()))?;
    f.seek(SeekFrom::End(0))?;
    Ok(f)
}

/// The partial output through the handle that holds its lock (a duplicate shares the lock).
fn partial_handle(files: &Files, path: &PathBuf, len: u64) -> anyhow::Result<File> {
    match &files.partial_lock {
        Some(lock) => {
            let f = lock
                .try_clone()
                .with_context(|| format!("cannot open {}", path.display()))?;
            truncated(f, path, len)
        }
        None => open_resumed(path, len),
    }
}

impl Writer {
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        opts: &BatchOptions,
        layout: &Layout,
        files: &Files,
        identity: &Option<Identity>,
        window: Arc<Window>,
        stop: Arc<Stop>,
        eof: EofTotal,
    ) -> anyhow::Result<Writer> {
        let resume = files.resume.as_ref();
        let header = match opts.format {
            BatchFormat::Csv => csv_header(layout, &opts.classes),
            BatchFormat::Jsonl => String::new(),
        };
        let (mut out, mut out_bytes) = match (&files.partial, resume) {
            (Some(p), Some(state)) => (
                Sink::File(BufWriter::with_capacity(
                    256 * 1024,
                    partial_handle(files, p, state.out_bytes)?,
                )),
                state.out_bytes,
            ),
            (Some(p), None) => (
                Sink::File(BufWriter::with_capacity(
                    256 * 1024,
                    partial_handle(files, p, 0)?,
                )),
                0,
            ),
            (None, _) => (
                Sink::Stdout(BufWriter::with_capacity(64 * 1024, std::io::stdout())),
                0,
            ),
        };
        // Running hashes of what the checkpoints vouch for; on resume, from the verified
        // prefixes.
        let (mut out_hash, mut rejects_hash) = files
            .hashes
            .clone()
            .unwrap_or_else(|| (Sha256::new(), Sha256::new()));
        if resume.is_none() {
            out.writer()
                .write_all(header.as_bytes())
                .context("cannot write the output")?;
            out_hash.update(header.as_bytes());
            out_bytes = header.len() as u64;
        }
        let (rejects, rejects_bytes) = match (&files.rejects, resume) {
            (Some(p), Some(state)) => (
                Some(Sink::File(BufWriter::new(open_resumed(
                    p,
                    state.rejects_bytes,
                )?))),
                state.rejects_bytes,
            ),
            (Some(p), None) => {
                let mut w = BufWriter::new(
                    File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
                );
                w.write_all(REJECTS_HEADER.as_bytes())?;
                rejects_hash.update(REJECTS_HEADER.as_bytes());
                (Some(Sink::File(w)), REJECTS_HEADER.len() as u64)
            }
            (None, _) => (None, 0),
        };
        let base = match (&files.checkpoint, identity) {
            (Some(_), Some(id)) => Some(State {
                version: checkpoint::VERSION,
                input: id.clone(),
                options: checkpoint::fingerprint(layout, opts),
                rows_done: 0,
                out_bytes: 0,
                rejects_bytes: 0,
                out_sha256: String::new(),
                rejects_sha256: String::new(),
            }),
            _ => None,
        };
        let mut w = Writer {
            out,
            out_bytes,
            out_hash,
            rejects,
            rejects_bytes,
            rejects_hash,
            next: resume.map_or(0, |s| s.rows_done),
            pending: BTreeMap::new(),
            window,
            files: files.clone(),
            base,
            interval: opts.checkpoint_interval,
            last_checkpoint: Instant::now(),
            stop,
            eof,
        };
        // A crash before the first interval is then resumable too.
        w.checkpoint()?;
        Ok(w)
    }

    fn write_done(&mut self, d: Done, stats: &Counters) -> anyhow::Result<()> {
        self.out
            .writer()
            .write_all(d.out.as_bytes())
            .context("cannot write the output")?;
        if self.base.is_some() {
            self.out_hash.update(d.out.as_bytes());
        }
        self.out_bytes += d.out.len() as u64;
        for r in &d.rejects {
            match &mut self.rejects {
                Some(sink) => {
                    let mut line = String::with_capacity(64 + r.raw.len());
                    line.push_str(&r.line.to_string());
                    line.push(',');
                    push_csv_field(&mut line, &r.column);
                    line.push(',');
                    push_csv_field(&mut line, &r.reason);
                    line.push(',');
                    push_csv_field(&mut line, &r.raw);
                    line.push('\n');
                    sink.writer()
                        .write_all(line.as_bytes())
                        .context("cannot write the rejects")?;
                    self.rejects_hash.update(line.as_bytes());
                    self.rejects_bytes += line.len() as u64;
                }
                None => {
                    // Cells and server messages are text from outside: escaped for the
                    // terminal.
                    let col = if r.column.is_empty() {
                        String::new()
                    } else {
                        format!(", column {}", printable(&r.column, false))
                    };
                    eprintln!(
                        "iris-cli: rejected line {}{col}: {}",
                        r.line,
                        printable(&r.reason, false)
                    );
                }
            }
        }
        stats.add_scored(d.scored);
        stats.add_rejected(d.rejects.len() as u64);
        self.next += d.count;
        self.window.release(d.count as usize);
        Ok(())
    }

    /// fsync the data, then record it (file output only).
    fn checkpoint(&mut self) -> anyhow::Result<()> {
        self.out.sync().context("cannot write the output")?;
        if let Some(r) = &mut self.rejects {
            r.sync().context("cannot write the rejects")?;
        }
        self.last_checkpoint = Instant::now();
        let (Some(base), Some(path)) = (&self.base, &self.files.checkpoint) else {
            return Ok(());
        };
        let state = State {
            rows_done: self.next,
            out_bytes: self.out_bytes,
            rejects_bytes: self.rejects_bytes,
            out_sha256: hex::encode(self.out_hash.clone().finalize()),
            rejects_sha256: hex::encode(self.rejects_hash.clone().finalize()),
            ..base.clone()
        };
        checkpoint::write_atomic(path, &state)
            .with_context(|| format!("cannot write the checkpoint {}", path.display()))
    }

    /// Receive finished batches until the workers are done; write them in order.
    pub fn run(
        mut self,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<Done>,
        stats: Arc<Counters>,
    ) -> anyhow::Result<Written> {
        let result = self.drain(&mut rx, &stats);
        if let Err(e) = result {
            // Nothing more can be written: stop the run; the last checkpoint stays valid.
            self.stop.fail(crate::error::CliError::new(
                crate::error::Exit::Failure,
                format!("{e:#}"),
            ));
            return Err(e);
        }
        let eof = self.eof.load(Ordering::Acquire);
        let complete = eof == self.next;
        if complete {
            self.out.sync().context("cannot write the output")?;
            if let Some(r) = &mut self.rejects {
                r.sync().context("cannot write the rejects")?;
            }
            if let (Some(partial), Some(out)) = (&self.files.partial, &self.files.out) {
                std::fs::rename(partial, out).with_context(|| {
                    format!("cannot rename {} to {}", partial.display(), out.display())
                })?;
                checkpoint::sync_dir(out);
            }
            if let Some(c) = &self.files.checkpoint {
                let _ = std::fs::remove_file(c);
                checkpoint::sync_dir(c);
            }
        } else {
            self.checkpoint()?;
        }
        Ok(Written {
            rows_done: self.next,
            complete,
            checkpointed: self.base.is_some(),
        })
    }

    fn drain(
        &mut self,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<Done>,
        stats: &Counters,
    ) -> anyhow::Result<()> {
        while let Some(d) = rx.blocking_recv() {
            self.pending.insert(d.start, d);
            while let Some(d) = self.pending.remove(&self.next) {
                self.write_done(d, stats)?;
            }
            if self.last_checkpoint.elapsed() >= self.interval {
                self.checkpoint()?;
            }
        }
        Ok(())
    }
}
