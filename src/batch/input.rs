//! Reading the input: file or stdin, gzip detected by its magic bytes, header detection,
//! feature selection, row validation, and cutting the rows into request-sized batches.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::Context as _;

use super::checkpoint::Identity;
use super::progress::Counters;
use super::{BatchFormat, BatchOptions, HeaderMode, Stop, MAX_BODY_BYTES};
use crate::config::TargetKind;
use crate::error::CliError;

/// Counts the (compressed) bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// An opened input.
pub struct Input {
    pub reader: Box<dyn Read + Send>,
    /// Size on disk, when it is a regular file.
    pub len: Option<u64>,
    pub identity: Option<Identity>,
    pub bytes_read: Arc<AtomicU64>,
    /// For messages: the path or "standard input".
    pub name: String,
}

/// Open a file or stdin (`None`); gzip is recognised by its magic bytes, whatever the name.
pub fn open(path: Option<&Path>) -> anyhow::Result<Input> {
    let bytes_read = Arc::new(AtomicU64::new(0));
    let (raw, len, identity, name): (Box<dyn Read + Send>, _, _, _) = match path {
        Some(p) => {
            let file = std::fs::File::open(p).map_err(|e| {
                CliError::new(
                    crate::error::Exit::Failure,
                    format!("cannot open input {}: {e}", p.display()),
                )
            })?;
            let meta = file
                .metadata()
                .with_context(|| format!("cannot read the metadata of {}", p.display()))?;
            let identity = Identity::of(p, &meta)?;
            (
                Box::new(file),
                meta.is_file().then_some(meta.len()),
                Some(identity),
                p.display().to_string(),
            )
        }
        None => (
            Box::new(std::io::stdin()),
            None,
            None,
            "standard input".to_string(),
        ),
    };
    let mut buffered = BufReader::with_capacity(
        256 * 1024,
        Counting {
            inner: raw,
            bytes: bytes_read.clone(),
        },
    );
    let magic = buffered
        .fill_buf()
        .with_context(|| format!("cannot read {name}"))?;
    let reader: Box<dyn Read + Send> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::bufread::MultiGzDecoder::new(buffered),
        ))
    } else {
        Box::new(buffered)
    };
    Ok(Input {
        reader,
        len,
        identity,
        bytes_read,
        name,
    })
}

/// The input's columns and which of them are features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub has_header: bool,
    /// Output names of the input columns: the header, or col1..colN.
    pub names: Vec<String>,
    pub width: usize,
    /// Feature column indices, in model order.
    pub features: Vec<usize>,
}

/// The CSV records after the header.
pub struct Records {
    rdr: csv::Reader<Box<dyn Read + Send>>,
    peeked: Option<csv::ByteRecord>,
    pub name: String,
    pub bytes_read: Arc<AtomicU64>,
}

impl Records {
    /// The next record into `rec`; false at the end.
    pub fn next(&mut self, rec: &mut csv::ByteRecord) -> anyhow::Result<bool> {
        if let Some(p) = self.peeked.take() {
            *rec = p;
            return Ok(true);
        }
        self.rdr.read_byte_record(rec).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            anyhow::Error::new(CliError::new(
                crate::error::Exit::Failure,
                format!("cannot read {} near line {line}: {e}", self.name),
            ))
        })
    }
}

fn is_number(cell: &[u8]) -> bool {
    std::str::from_utf8(cell)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .is_some()
}

fn text(cell: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(cell)
}

impl Layout {
    /// Read the first record, decide whether it is a header, resolve `--features`.
    pub fn detect(input: Input, opts: &BatchOptions) -> anyhow::Result<(Layout, Records)> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_reader(input.reader);
        let mut first = csv::ByteRecord::new();
        let mut records = Records {
            peeked: None,
            name: input.name.clone(),
            bytes_read: input.bytes_read,
            rdr: csv::ReaderBuilder::new().from_reader(Box::new(std::io::empty())),
        };
        let got = rdr.read_byte_record(&mut first).map_err(|e| {
            CliError::new(
                crate::error::Exit::Failure,
                format!("cannot read {}: {e}", input.name),
            )
        })?;
        let named = opts.features.iter().any(|f| f.parse::<usize>().is_err());
        let has_header = got
            && match opts.header {
                HeaderMode::Yes => true,
                HeaderMode::No => false,
                HeaderMode::Detect => {
                    // A header has no numeric cell; a data row with a bad cell still has some.
                    first.iter().all(|c| !is_number(c))
                        && first.iter().any(|c| !c.trim_ascii().is_empty())
                }
            };
        if named && !has_header {
            return Err(CliError::usage(format!(
                "--features names columns ({}) but {} has no header{}",
                opts.features.join(","),
                input.name,
                if opts.header == HeaderMode::No {
                    " (--no-header)"
                } else {
                    ": its first line looks like data (give --has-header if it is one, or use 1-based column numbers)"
                }
            ))
            .into());
        }
        let width = if got { first.len() } else { 0 };
        let names: Vec<String> = if has_header {
            first.iter().map(|c| text(c).trim().to_string()).collect()
        } else {
            (1..=width).map(|i| format!("col{i}")).collect()
        };
        let features = if opts.features.is_empty() {
            default_features(&names, has_header)
        } else {
            let mut idx = Vec::with_capacity(opts.features.len());
            for f in &opts.features {
                let by_name = has_header
                    .then(|| names.iter().position(|n| n == f))
                    .flatten();
                let i = match (by_name, f.parse::<usize>()) {
                    (Some(i), _) => i,
                    (None, Ok(n)) if n >= 1 && (n <= width || !got) => n - 1,
                    (None, Ok(n)) => {
                        return Err(CliError::usage(format!(
                            "--features: column {n} does not exist: {} has {width} column(s)",
                            input.name
                        ))
                        .into())
                    }
                    (None, Err(_)) => {
                        return Err(CliError::usage(format!(
                            "--features: no column '{f}' in the header of {} (columns: {})",
                            input.name,
                            names.join(",")
                        ))
                        .into())
                    }
                };
                idx.push(i);
            }
            idx
        };
        if opts.features.is_empty() && features.len() < width && opts.summary {
            let passed: Vec<&str> = (0..width)
                .filter(|i| !features.contains(i))
                .map(|i| names[i].as_str())
                .collect();
            eprintln!(
                "iris-cli: {}: features {}; passed through: {} (choose with --features)",
                input.name,
                features
                    .iter()
                    .map(|&i| names[i].as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                passed.join(",")
            );
        }
        if has_header && opts.header == HeaderMode::Detect && opts.summary {
            eprintln!(
                "iris-cli: {}: first line taken as a header ({}); use --no-header if it is data",
                input.name,
                names.join(",")
            );
        }
        records.rdr = rdr;
        if got && !has_header {
            records.peeked = Some(first);
        }
        Ok((
            Layout {
                has_header,
                names,
                width,
                features,
            },
            records,
        ))
    }
}

/// Without `--features`: every column, except that a header's identifier and label columns
/// (`id`, `*_id`, `key`, `name`, `label`, `species`, `class`, `target`) are passed through,
/// since a model never takes them as features.
fn default_features(names: &[String], has_header: bool) -> Vec<usize> {
    let passthrough = |name: &str| {
        let n = name.trim().to_ascii_lowercase();
        matches!(
            n.as_str(),
            "id" | "key" | "name" | "label" | "species" | "class" | "target" | "variety"
        ) || n.ends_with("_id")
            || n.ends_with("-id")
    };
    (0..names.len())
        .filter(|&i| !(has_header && passthrough(&names[i])))
        .collect()
}

/// A row that will not be scored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// 1-based line of the input where the record starts.
    pub line: u64,
    /// Column name (or number) at fault; empty when the whole row is.
    pub column: String,
    pub reason: String,
    /// The record, CSV-encoded.
    pub raw: String,
}

/// One row of a batch.
#[derive(Debug, Clone)]
pub enum Slot {
    /// To be sent; ranges index `Batch::text`.
    Send {
        line: u64,
        /// The output prefix: the CSV-encoded record (csv) or the JSON object's start (jsonl).
        prefix: (u32, u32),
        /// The CSV-encoded record, for the rejects.
        raw: (u32, u32),
        /// The feature cells as sent, comma-joined.
        features: (u32, u32),
    },
    Rejected(Reject),
}

/// A contiguous range of input records: `start..start + slots.len()`.
#[derive(Debug, Clone)]
pub struct Batch {
    pub start: u64,
    pub slots: Vec<Slot>,
    pub text: String,
}

impl Batch {
    pub fn get(&self, r: (u32, u32)) -> &str {
        &self.text[r.0 as usize..r.1 as usize]
    }
}

/// Rows read but not yet written, bounded: the reader blocks while the window is full.
pub struct Window {
    cap: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

impl Window {
    pub fn new(cap: usize) -> Self {
        Window {
            cap,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Reserve `n` rows; false if the run is stopping.
    pub fn acquire(&self, n: usize, stop: &Stop) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used + n > self.cap {
            if stop.is_stopping() {
                return false;
            }
            used = self
                .freed
                .wait_timeout(used, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *used += n;
        true
    }

    pub fn release(&self, n: usize) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        *used = used.saturating_sub(n);
        self.freed.notify_all();
    }
}

/// Append `field` to `out` as one CSV field (quoted when needed).
pub fn push_csv_field(out: &mut String, field: &str) {
    if field.is_empty()
        || !field
            .bytes()
            .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
            && !field.starts_with(' ')
            && !field.ends_with(' ')
    {
        out.push_str(field);
        return;
    }
    out.push('"');
    for c in field.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

/// Append `s` as a JSON string literal.
pub fn push_json_str(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Validates records and encodes them into batch text.
pub struct RowEncoder<'a> {
    pub layout: &'a Layout,
    pub allow_missing: bool,
    pub format: BatchFormat,
    /// The request body adds this many bytes per row beyond the features (API: `\\n`).
    pub per_row_overhead: usize,
}

impl RowEncoder<'_> {
    fn column_name(&self, i: usize) -> String {
        if self.layout.has_header {
            self.layout.names[i].clone()
        } else {
            (i + 1).to_string()
        }
    }

    fn encode_raw(rec: &csv::ByteRecord, out: &mut String) {
        for (i, c) in rec.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_csv_field(out, &text(c));
        }
    }

    /// Validate `rec` and append it to `batch`. Returns the features' byte length when sent.
    pub fn push(&self, rec: &csv::ByteRecord, line: u64, batch: &mut Batch) -> Option<usize> {
        let reject = |column: String, reason: String| {
            let mut raw = String::new();
            Self::encode_raw(rec, &mut raw);
            Slot::Rejected(Reject {
                line,
                column,
                reason,
                raw,
            })
        };
        if rec.len() != self.layout.width {
            batch.slots.push(reject(
                String::new(),
                format!(
                    "expected {} columns, found {}",
                    self.layout.width,
                    rec.len()
                ),
            ));
            return None;
        }
        let t = &mut batch.text;
        let f0 = t.len();
        for (k, &i) in self.layout.features.iter().enumerate() {
            let cell = rec.get(i).unwrap_or_default();
            let Ok(cell) = std::str::from_utf8(cell) else {
                t.truncate(f0);
                batch
                    .slots
                    .push(reject(self.column_name(i), "not valid UTF-8".into()));
                return None;
            };
            let cell = cell.trim();
            if k > 0 {
                t.push(',');
            }
            let missing = cell.is_empty() || cell.eq_ignore_ascii_case("nan");
            if missing {
                if !self.allow_missing {
                    t.truncate(f0);
                    batch.slots.push(reject(
                        self.column_name(i),
                        "empty value, and missing values are not allowed (--no-missing)".into(),
                    ));
                    return None;
                }
                continue;
            }
            if cell.parse::<f64>().is_err() {
                let shown: String = cell.chars().take(40).collect();
                t.truncate(f0);
                batch.slots.push(reject(
                    self.column_name(i),
                    format!("'{shown}' is not a number"),
                ));
                return None;
            }
            t.push_str(cell);
        }
        let f1 = t.len();
        let feature_len = f1 - f0;
        if feature_len + self.per_row_overhead + 32 > MAX_BODY_BYTES {
            t.truncate(f0);
            batch.slots.push(reject(
                String::new(),
                format!("row too large for one request ({feature_len} bytes of features)"),
            ));
            return None;
        }
        let r0 = t.len();
        Self::encode_raw(rec, t);
        let r1 = t.len();
        let (p0, p1) = match self.format {
            BatchFormat::Csv => (r0, r1),
            BatchFormat::Jsonl => {
                let p0 = t.len();
                t.push_str("{\"line\":");
                t.push_str(&line.to_string());
                t.push_str(",\"input\":{");
                for (i, c) in rec.iter().enumerate() {
                    if i > 0 {
                        t.push(',');
                    }
                    push_json_str(t, &self.layout.names[i]);
                    t.push(':');
                    push_json_str(t, &text(c));
                }
                t.push_str("},");
                (p0, t.len())
            }
        };
        let r = |a: usize, b: usize| (a as u32, b as u32);
        batch.slots.push(Slot::Send {
            line,
            prefix: r(p0, p1),
            raw: r(r0, r1),
            features: r(f0, f1),
        });
        Some(feature_len + self.per_row_overhead)
    }
}

/// How reading ended.
#[derive(Debug, Clone, Copy)]
pub struct ReadEnd {
    /// Records consumed, counting skipped (resumed) ones.
    pub records: u64,
    pub eof: bool,
}

/// Read every record after `skip`, validate, cut into batches of at most `rows_per_request`
/// rows and `MAX_BODY_BYTES`, and send them to the workers. Blocks while the window is full.
#[allow(clippy::too_many_arguments)]
pub fn read_batches(
    mut records: Records,
    layout: &Layout,
    opts: &BatchOptions,
    kind: TargetKind,
    skip: u64,
    window: &Window,
    tx: &tokio::sync::mpsc::Sender<Batch>,
    stop: &Stop,
    stats: &Counters,
) -> anyhow::Result<ReadEnd> {
    let enc = RowEncoder {
        layout,
        allow_missing: opts.allow_missing,
        format: opts.format,
        per_row_overhead: match kind {
            TargetKind::ApiGateway | TargetKind::HttpApi | TargetKind::FunctionUrl => 2,
            TargetKind::SageMaker => 1,
        },
    };
    let mut rec = csv::ByteRecord::new();
    let mut seq: u64 = 0;
    while seq < skip {
        if !records.next(&mut rec)? {
            return Err(CliError::usage(format!(
                "cannot resume: the checkpoint says {skip} rows were done but {} has only {seq}",
                records.name
            ))
            .into());
        }
        seq += 1;
    }
    let rpr = opts.rows_per_request;
    // A record read but not yet placed (it did not fit the previous batch's body).
    let mut carry: Option<csv::ByteRecord> = None;
    loop {
        if stop.is_stopping() {
            return Ok(ReadEnd {
                records: seq,
                eof: false,
            });
        }
        if !window.acquire(rpr, stop) {
            return Ok(ReadEnd {
                records: seq,
                eof: false,
            });
        }
        let mut batch = Batch {
            start: seq,
            slots: Vec::with_capacity(rpr),
            text: String::with_capacity(rpr * 64),
        };
        let mut body = 16usize;
        let mut eof = false;
        while batch.slots.len() < rpr {
            let r = match carry.take() {
                Some(r) => r,
                None => {
                    if !records.next(&mut rec)? {
                        eof = true;
                        break;
                    }
                    rec.clone()
                }
            };
            let line = r.position().map_or(0, |p| p.line());
            let before = (batch.slots.len(), batch.text.len());
            if let Some(n) = enc.push(&r, line, &mut batch) {
                if body + n > MAX_BODY_BYTES && before.0 > 0 {
                    // Does not fit: undo and start the next batch with it.
                    batch.slots.truncate(before.0);
                    batch.text.truncate(before.1);
                    carry = Some(r);
                    break;
                }
                body += n;
            }
        }
        let n = batch.slots.len();
        seq += n as u64;
        stats.add_read(n as u64);
        window.release(rpr - n);
        if n > 0 && tx.blocking_send(batch).is_err() {
            // The workers are gone (the run is stopping).
            window.release(n);
            return Ok(ReadEnd {
                records: seq - n as u64,
                eof: false,
            });
        }
        if eof {
            return Ok(ReadEnd {
                records: seq,
                eof: true,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        let mut s = String::new();
        for f in ["a", "", "b,c", "say \"hi\"", " pad"] {
            push_csv_field(&mut s, f);
            s.push('|');
        }
        assert_eq!(s, "a||\"b,c\"|\"say \"\"hi\"\"\"|\" pad\"|");
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v, "a\"b\\c\nd\u{1}é");
    }

    fn layout() -> Layout {
        Layout {
            has_header: true,
            names: vec!["id".into(), "a".into(), "b".into()],
            width: 3,
            features: vec![1, 2],
        }
    }

    #[test]
    fn rows_are_validated_with_line_and_column() {
        let l = layout();
        let enc = RowEncoder {
            layout: &l,
            allow_missing: false,
            format: BatchFormat::Csv,
            per_row_overhead: 1,
        };
        let mut b = Batch {
            start: 0,
            slots: vec![],
            text: String::new(),
        };
        let rec = |cells: &[&str]| csv::ByteRecord::from(cells.to_vec());
        assert_eq!(enc.push(&rec(&["x1", " 5.1", "3"]), 2, &mut b), Some(6));
        assert!(enc.push(&rec(&["x2", "abc", "3"]), 3, &mut b).is_none());
        assert!(enc.push(&rec(&["x3", "", "3"]), 4, &mut b).is_none());
        assert!(enc.push(&rec(&["x4", "1"]), 5, &mut b).is_none());
        match &b.slots[0] {
            Slot::Send {
                features, prefix, ..
            } => {
                assert_eq!(b.get(*features), "5.1,3");
                assert_eq!(b.get(*prefix), "x1, 5.1,3".replace(" 5.1", "\" 5.1\""));
            }
            other => panic!("{other:?}"),
        }
        let rejects: Vec<(u64, String, String)> = b.slots[1..]
            .iter()
            .map(|s| match s {
                Slot::Rejected(r) => (r.line, r.column.clone(), r.reason.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(rejects[0], (3, "a".into(), "'abc' is not a number".into()));
        assert_eq!(rejects[1].0, 4);
        assert_eq!(rejects[1].1, "a");
        assert!(rejects[1].2.contains("--no-missing"));
        assert_eq!(
            rejects[2],
            (5, "".into(), "expected 3 columns, found 2".into())
        );
        // Missing allowed: sent as an empty cell.
        let enc = RowEncoder {
            allow_missing: true,
            ..enc
        };
        let mut b = Batch {
            start: 0,
            slots: vec![],
            text: String::new(),
        };
        enc.push(&rec(&["x3", "", "3"]), 4, &mut b).unwrap();
        match &b.slots[0] {
            Slot::Send { features, .. } => assert_eq!(b.get(*features), ",3"),
            other => panic!("{other:?}"),
        }
    }
}
