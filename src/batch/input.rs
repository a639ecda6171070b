//! Reading the input: file or stdin, gzip detected by its magic bytes, header detection,
//! feature selection, row validation, and cutting the rows into request-sized batches.

use crate::output::printable;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::Context as _;

use super::checkpoint::Identity;
use super::progress::Counters;
use super::{BatchFormat, BatchOptions, HeaderMode, Stop, MAX_BODY_BYTES};
use crate::columns::{self, Columns, FirstLine};
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
    wrap(raw, len, identity, name, bytes_read)
}

/// An input held in memory (property tests and fuzz targets), read exactly as a file is.
pub fn from_bytes(data: Vec<u8>) -> anyhow::Result<Input> {
    let len = Some(data.len() as u64);
    wrap(
        Box::new(std::io::Cursor::new(data)),
        len,
        None,
        "input".to_string(),
        Arc::new(AtomicU64::new(0)),
    )
}

/// Buffering and gzip detection (by the magic bytes, whatever the name).
fn wrap(
    raw: Box<dyn Read + Send>,
    len: Option<u64>,
    identity: Option<Identity>,
    name: String,
    bytes_read: Arc<AtomicU64>,
) -> anyhow::Result<Input> {
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

/// Line breaks in the (decompressed) input, as the CSV reader's read-ahead passes them.
/// The csv crate counts only `\n`, so its line numbers were one too low after a CRLF header
/// and always 1 in a CR-only file; here `\r\n`, `\r` and `\n` each end one line.
#[derive(Debug, Default)]
struct Breaks {
    /// Offsets and lengths (1, or 2 for `\r\n`) of the breaks not yet passed by a record
    /// start.
    offsets: std::collections::VecDeque<(u64, u8)>,
    /// Bytes seen.
    seen: u64,
    /// Breaks seen in all.
    total: u64,
    prev_cr: bool,
}

struct LineTracking<R> {
    inner: R,
    breaks: Arc<Mutex<Breaks>>,
}

impl<R: Read> Read for LineTracking<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut b = self.breaks.lock().unwrap_or_else(|e| e.into_inner());
        let base = b.seen;
        for (i, &c) in buf[..n].iter().enumerate() {
            if c == b'\n' && b.prev_cr {
                if let Some(last) = b.offsets.back_mut() {
                    last.1 = 2;
                }
            } else if c == b'\r' || c == b'\n' {
                b.offsets.push_back((base + i as u64, 1));
                b.total += 1;
            }
            b.prev_cr = c == b'\r';
        }
        b.seen += n as u64;
        Ok(n)
    }
}

/// Turns record start offsets (increasing) into 1-based line numbers.
#[derive(Debug, Default)]
pub struct LineCounter {
    breaks: Arc<Mutex<Breaks>>,
    passed: u64,
}

impl LineCounter {
    /// The line of the record the CSV reader says starts at `offset`. The reader gives the
    /// offset where it began looking, before the blank lines it skips; a record never starts
    /// with a line break, so breaks right at the position are such lines, and passed too.
    pub fn line_at(&mut self, offset: u64) -> u64 {
        let mut b = self.breaks.lock().unwrap_or_else(|e| e.into_inner());
        let mut pos = offset;
        while let Some(&(o, len)) = b.offsets.front() {
            if o < offset {
                b.offsets.pop_front();
                self.passed += 1;
                // The reader may start a record at the `\n` of a `\r\n` it ended the last
                // one on.
                pos = pos.max(o + u64::from(len));
            } else if o == pos {
                b.offsets.pop_front();
                self.passed += 1;
                pos = o + u64::from(len);
            } else {
                break;
            }
        }
        self.passed + 1
    }

    /// The line being read now (for errors with no position: a gzip stream that breaks).
    fn current(&self) -> u64 {
        self.breaks.lock().unwrap_or_else(|e| e.into_inner()).total + 1
    }
}

/// The CSV records after the header.
pub struct Records {
    rdr: csv::Reader<Box<dyn Read + Send>>,
    peeked: Option<csv::ByteRecord>,
    lines: LineCounter,
    /// The line where the last record returned by [`Records::next`] starts.
    pub line: u64,
    pub name: String,
    pub bytes_read: Arc<AtomicU64>,
}

impl Records {
    /// The next record into `rec` (its line in `self.line`); false at the end.
    pub fn next(&mut self, rec: &mut csv::ByteRecord) -> anyhow::Result<bool> {
        if let Some(p) = self.peeked.take() {
            *rec = p;
        } else {
            let got = self.rdr.read_byte_record(rec).map_err(|e| {
                let line = match e.position() {
                    Some(p) => self.lines.line_at(p.byte()),
                    None => self.lines.current(),
                };
                anyhow::Error::new(CliError::new(
                    crate::error::Exit::Failure,
                    format!("cannot read {} near line {line}: {e}", self.name),
                ))
            })?;
            if !got {
                return Ok(false);
            }
        }
        self.line = self.lines.line_at(rec.position().map_or(0, |p| p.byte()));
        Ok(true)
    }
}

/// The first cell of `rec` that is not UTF-8, for the reject reason: such a cell cannot be
/// copied to the output as it is (the output is text), and replacing its bytes with U+FFFD
/// would change the data silently.
fn first_non_utf8(rec: &csv::ByteRecord) -> Option<(usize, usize)> {
    rec.iter()
        .enumerate()
        .find_map(|(i, c)| std::str::from_utf8(c).err().map(|e| (i, e.valid_up_to())))
}

fn text(cell: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(cell)
}

impl Layout {
    /// Read the first record, decide whether it is a header, resolve `--features`.
    pub fn detect(input: Input, opts: &BatchOptions) -> anyhow::Result<(Layout, Records)> {
        Self::detect_with(input, &opts.features, opts.header, opts.summary)
    }

    /// [`Layout::detect`] with just what it needs; `notes`: print the header and feature
    /// choices on stderr.
    pub fn detect_with(
        input: Input,
        features: &[String],
        header: HeaderMode,
        notes: bool,
    ) -> anyhow::Result<(Layout, Records)> {
        let opts = DetectOptions {
            features,
            header,
            summary: notes,
        };
        let breaks = Arc::new(Mutex::new(Breaks::default()));
        let tracked: Box<dyn Read + Send> = Box::new(LineTracking {
            inner: input.reader,
            breaks: breaks.clone(),
        });
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_reader(tracked);
        let mut first = csv::ByteRecord::new();
        let mut records = Records {
            peeked: None,
            lines: LineCounter { breaks, passed: 0 },
            line: 0,
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
        let detected = columns::first_line(first.iter());
        let kind = match (got, opts.header, detected) {
            (false, _, _) | (_, HeaderMode::No, _) => FirstLine::Data,
            (_, HeaderMode::Yes, FirstLine::Data) => FirstLine::Names,
            (_, _, detected) => detected,
        };
        let cells: Vec<&[u8]> = first.iter().collect();
        let cols = Columns::new(&cells, &kind);
        let has_header = cols.has_header;
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
        let width = cols.width;
        let names = cols.names.clone();
        let features = if opts.features.is_empty() {
            cols.features.clone()
        } else {
            let mut idx = Vec::with_capacity(opts.features.len());
            for f in opts.features {
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
                            printable(&names.join(","), false)
                        ))
                        .into())
                    }
                };
                idx.push(i);
            }
            idx
        };
        if opts.features.is_empty() && opts.summary {
            if let Some(note) = cols.describe("passed through") {
                eprintln!(
                    "iris-cli: {}: {} (choose with --features)",
                    input.name,
                    printable(&note, false)
                );
            }
        }
        if has_header && opts.header != HeaderMode::No && opts.summary {
            match &kind {
                FirstLine::Sklearn { features, classes } => eprintln!(
                    "iris-cli: {}: first line is scikit-learn's header ({features} features, classes {}); use --no-header if it is data",
                    input.name,
                    printable(&classes.join(","), false)
                ),
                _ if opts.header == HeaderMode::Detect => eprintln!(
                    "iris-cli: {}: first line taken as a header ({}); use --no-header if it is data",
                    input.name,
                    printable(&names.join(","), false)
                ),
                _ => {}
            }
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

/// What header detection and `--features` resolution look at.
struct DetectOptions<'a> {
    features: &'a [String],
    header: HeaderMode,
    summary: bool,
}

/// What reading a whole input gives (see [`scan`]).
#[derive(Debug)]
pub struct Scan {
    pub layout: Layout,
    /// Every record, as the run would queue it.
    pub batch: Batch,
}

/// Read a whole in-memory input the way a run does, up to batching: gzip detection, header
/// detection, `--features`, line numbers, validation and encoding of every record. For the
/// property tests and fuzz targets, which check that no input panics or hangs it.
pub fn scan(
    data: Vec<u8>,
    features: &[String],
    header: HeaderMode,
    allow_missing: bool,
    format: BatchFormat,
) -> anyhow::Result<Scan> {
    let (layout, mut records) = Layout::detect_with(from_bytes(data)?, features, header, false)?;
    let enc = RowEncoder {
        layout: &layout,
        allow_missing,
        format,
        per_row_overhead: 2,
    };
    let mut batch = Batch {
        start: 0,
        slots: Vec::new(),
        text: String::new(),
    };
    let mut rec = csv::ByteRecord::new();
    while records.next(&mut rec)? {
        enc.push(&rec, records.line, &mut batch);
    }
    Ok(Scan {
        layout: layout.clone(),
        batch,
    })
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
    out.push('"');
    out.push_str(&crate::output::json_escaped(s));
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
            self.layout
                .names
                .get(i)
                .cloned()
                .unwrap_or_else(|| (i + 1).to_string())
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
        if let Some((i, at)) = first_non_utf8(rec) {
            batch.slots.push(reject(
                self.column_name(i),
                format!("not valid UTF-8 (after byte {at} of the cell); the output could not hold it as it is"),
            ));
            return None;
        }
        let t = &mut batch.text;
        let f0 = t.len();
        for (k, &i) in self.layout.features.iter().enumerate() {
            let cell = rec.get(i).unwrap_or_default();
            // Checked above, with every other cell.
            let cell = std::str::from_utf8(cell).unwrap_or_default();
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
        per_row_overhead: kind.protocol().per_row_overhead(),
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
    // A record read but not yet placed (it did not fit the previous batch's body), and its line.
    let mut carry: Option<(csv::ByteRecord, u64)> = None;
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
            let (r, line) = match carry.take() {
                Some(c) => c,
                None => {
                    if !records.next(&mut rec)? {
                        eof = true;
                        break;
                    }
                    (rec.clone(), records.line)
                }
            };
            let before = (batch.slots.len(), batch.text.len());
            if let Some(n) = enc.push(&r, line, &mut batch) {
                if body + n > MAX_BODY_BYTES && before.0 > 0 {
                    // Does not fit: undo and start the next batch with it.
                    batch.slots.truncate(before.0);
                    batch.text.truncate(before.1);
                    carry = Some((r, line));
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
