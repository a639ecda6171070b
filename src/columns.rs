//! Which columns of a CSV file are features: one rule for `batch` and `bench --payload-csv`.
//!
//! - A first line with no numeric cell is a header. Its identifier and label columns (`id`,
//!   `*_id`, `key`, `name`, `label`, `species`, `class`, `target`, `variety`) are not features.
//! - scikit-learn's own files (`sklearn/datasets/data/*.csv`, `payloads/iris.csv`) start with
//!   `N_ROWS,N_FEATURES,class names...`: a header too; the first N_FEATURES columns are the
//!   features and the one after them, the label, is not.
//! - Otherwise the first line is data and every column is a feature.

use std::path::Path;

use crate::error::CliError;

/// A cell that parses as a number (surrounding spaces allowed).
pub fn is_number(cell: &[u8]) -> bool {
    std::str::from_utf8(cell)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .is_some()
}

/// What the first line of a CSV file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstLine {
    /// A data row.
    Data,
    /// Column names.
    Names,
    /// scikit-learn's `N_ROWS,N_FEATURES,class...` line.
    Sklearn {
        features: usize,
        classes: Vec<String>,
    },
}

/// The most features a scikit-learn `N_ROWS,N_FEATURES,...` line is believed for: beyond it
/// the line is data. (A fuzzed `5555555555552556` there made `Columns::new` ask for names
/// of 5.5e15 columns, an allocation abort.)
pub const MAX_SKLEARN_FEATURES: usize = 65_536;

/// Decide what `cells`, the first line, is.
pub fn first_line<'a>(cells: impl IntoIterator<Item = &'a [u8]>) -> FirstLine {
    let cells: Vec<&[u8]> = cells.into_iter().collect();
    let trimmed = |c: &[u8]| String::from_utf8_lossy(c).trim().to_string();
    let integer = |c: &[u8]| trimmed(c).parse::<usize>().ok();
    if cells.len() >= 3 {
        if let (Some(_rows), Some(features)) = (integer(cells[0]), integer(cells[1])) {
            let names = &cells[2..];
            if (1..=MAX_SKLEARN_FEATURES).contains(&features)
                && names
                    .iter()
                    .all(|c| !is_number(c) && !c.trim_ascii().is_empty())
            {
                return FirstLine::Sklearn {
                    features,
                    classes: names.iter().map(|c| trimmed(c)).collect(),
                };
            }
        }
    }
    // A header has no numeric cell; a data row with a bad cell still has some.
    if cells.iter().all(|c| !is_number(c)) && cells.iter().any(|c| !c.trim_ascii().is_empty()) {
        FirstLine::Names
    } else {
        FirstLine::Data
    }
}

/// The columns of a file: their names (`col1..colN` without a header), how many a row has,
/// and which are features when the user chose none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub has_header: bool,
    pub names: Vec<String>,
    pub width: usize,
    pub features: Vec<usize>,
}

impl Columns {
    /// `first` is the first line's cells, `kind` what it was taken for (detected, or forced by
    /// `--has-header`/`--no-header`: a forced header is `Names` unless it is scikit-learn's).
    pub fn new(first: &[&[u8]], kind: &FirstLine) -> Columns {
        match kind {
            FirstLine::Data => Columns {
                has_header: false,
                names: (1..=first.len()).map(|i| format!("col{i}")).collect(),
                width: first.len(),
                features: (0..first.len()).collect(),
            },
            FirstLine::Names => {
                let names: Vec<String> = first
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).trim().to_string())
                    .collect();
                let features = (0..names.len())
                    .filter(|&i| !not_a_feature(&names[i]))
                    .collect();
                Columns {
                    has_header: true,
                    width: names.len(),
                    names,
                    features,
                }
            }
            FirstLine::Sklearn { features, .. } => {
                let mut names: Vec<String> = (1..=*features).map(|i| format!("col{i}")).collect();
                names.push("label".into());
                Columns {
                    has_header: true,
                    width: features + 1,
                    names,
                    features: (0..*features).collect(),
                }
            }
        }
    }

    /// The columns that are not features, by name.
    pub fn left_out(&self) -> Vec<&str> {
        (0..self.width)
            .filter(|i| !self.features.contains(i))
            .map(|i| self.names[i].as_str())
            .collect()
    }

    /// `features a,b,c; passed through: label` (`what` names the non-features' fate), or None
    /// when every column is a feature.
    pub fn describe(&self, what: &str) -> Option<String> {
        let left = self.left_out();
        (!left.is_empty()).then(|| {
            let features: Vec<&str> = self
                .features
                .iter()
                .map(|&i| self.names[i].as_str())
                .collect();
            format!(
                "features {}; {what}: {}",
                features.join(","),
                left.join(",")
            )
        })
    }
}

/// The rows of a `bench --payload-csv` file, each its feature cells joined by commas (empty
/// cells kept: missing values), and the note saying which columns were left out. Blank lines
/// are skipped; a row of the wrong width or with a cell that is not a number is an error.
pub fn payload_rows(path: &Path) -> Result<(Vec<String>, Option<String>), CliError> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::usage(format!("cannot read --payload-csv {shown}: {e}")))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::BufReader::new(file));
    let mut rows = Vec::new();
    let mut cols: Option<Columns> = None;
    let mut rec = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(CliError::usage(format!("--payload-csv {shown}: {e}"))),
        }
        let line = rec.position().map_or(0, |p| p.line());
        if rec.iter().all(|c| c.trim_ascii().is_empty()) {
            continue;
        }
        if cols.is_none() {
            let cells: Vec<&[u8]> = rec.iter().collect();
            let first = Columns::new(&cells, &first_line(cells.iter().copied()));
            let header = first.has_header;
            cols = Some(first);
            if header {
                continue;
            }
        }
        let cols = cols.as_ref().expect("set above");
        rows.push(feature_cells(&rec, cols, &shown, line)?);
    }
    if rows.is_empty() {
        return Err(CliError::usage(format!(
            "--payload-csv {shown}: no data rows"
        )));
    }
    let note = cols.and_then(|c| c.describe("left out"));
    Ok((rows, note))
}

fn feature_cells(
    rec: &csv::ByteRecord,
    cols: &Columns,
    shown: &std::path::Display<'_>,
    line: u64,
) -> Result<String, CliError> {
    if rec.len() != cols.width {
        return Err(CliError::usage(format!(
            "--payload-csv {shown}:{line}: {} columns, expected {}",
            rec.len(),
            cols.width
        )));
    }
    let mut out = String::new();
    for (n, &i) in cols.features.iter().enumerate() {
        let cell = rec.get(i).unwrap_or_default().trim_ascii();
        if !cell.is_empty() && !is_number(cell) {
            return Err(CliError::usage(format!(
                "--payload-csv {shown}:{line}, column {}: '{}' is not a number",
                cols.names[i],
                String::from_utf8_lossy(cell)
            )));
        }
        if n > 0 {
            out.push(',');
        }
        out.push_str(&String::from_utf8_lossy(cell));
    }
    Ok(out)
}

/// A header name that is an identifier or a label, never a model input.
fn not_a_feature(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    matches!(
        n.as_str(),
        "id" | "key" | "name" | "label" | "species" | "class" | "target" | "variety"
    ) || n.ends_with("_id")
        || n.ends_with("-id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_implausible_sklearn_feature_count_is_data() {
        let line = |text: &'static str| first_line(text.split(',').map(str::as_bytes));
        assert!(matches!(
            line("150,4,setosa,versicolor,virginica"),
            FirstLine::Sklearn { features: 4, .. }
        ));
        assert_eq!(
            line("1555555555555552556,5555555555552556,LLL,gggg"),
            FirstLine::Data
        );
        assert_eq!(line("10,0,a,b"), FirstLine::Data);
        let cols = Columns::new(
            &[b"1", b"5555555555552556", b"x"],
            &line("1,5555555555552556,x"),
        );
        assert_eq!(cols.width, 3);
    }

    #[test]
    fn payload_rows_keep_features_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.csv");
        let read = |text: &str| {
            std::fs::write(&p, text).unwrap();
            payload_rows(&p)
        };
        assert_eq!(
            read("sl,sw,pl,pw\n5.1,3.5,1.4,0.2\n\n6.6, 3.0,4.4,1.4\n").unwrap(),
            (
                vec!["5.1,3.5,1.4,0.2".into(), "6.6,3.0,4.4,1.4".into()],
                None
            )
        );
        let (rows, note) = read("150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n").unwrap();
        assert_eq!(rows, ["5.1,3.5,1.4,0.2"]);
        assert_eq!(
            note.unwrap(),
            "features col1,col2,col3,col4; left out: label"
        );
        let (rows, note) = read("id,a,b\n7,1.5,\n").unwrap();
        assert_eq!(rows, ["1.5,"]);
        assert_eq!(note.unwrap(), "features a,b; left out: id");
        assert_eq!(read("1,2\n3,4\n").unwrap().0, ["1,2", "3,4"]);
        let e = read("5.1,3.5,1.4,0.2\n6.6,x,4.4,1.4\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.csv:2, column col2: 'x' is not a number"),
            "{e}"
        );
        let e = read("5.1,3.5,1.4,0.2\n6.6,4.4,1.4\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.csv:2: 3 columns, expected 4"), "{e}");
        let e = read("a,b\n\n").unwrap_err().to_string();
        assert!(e.contains("no data rows"), "{e}");
    }

    fn cells(line: &str) -> Vec<&[u8]> {
        line.split(',').map(str::as_bytes).collect()
    }

    fn columns(line: &str) -> Columns {
        let c = cells(line);
        Columns::new(&c, &first_line(c.iter().copied()))
    }

    #[test]
    fn scikit_learns_first_line_names_the_feature_count() {
        let c = cells("150,4,setosa,versicolor,virginica");
        assert_eq!(
            first_line(c.iter().copied()),
            FirstLine::Sklearn {
                features: 4,
                classes: vec!["setosa".into(), "versicolor".into(), "virginica".into()]
            }
        );
        let cols = columns("150,4,setosa,versicolor,virginica");
        assert_eq!(cols.width, 5);
        assert_eq!(cols.features, [0, 1, 2, 3]);
        assert_eq!(
            cols.describe("left out").unwrap(),
            "features col1,col2,col3,col4; left out: label"
        );
        // breast cancer: 30 features, 2 classes, so rows are wider than that first line.
        assert_eq!(columns("569,30,malignant,benign").width, 31);
    }

    #[test]
    fn named_headers_pass_identifiers_and_labels_through() {
        let cols = columns("id,sepal_length,sepal_width,petal_length,petal_width");
        assert!(cols.has_header);
        assert_eq!(cols.features, [1, 2, 3, 4]);
        assert_eq!(cols.left_out(), ["id"]);
        let cols = columns("sl,sw,pl,pw,Species");
        assert_eq!(cols.features, [0, 1, 2, 3]);
        assert_eq!(columns("a,b,c").describe("x"), None);
    }

    #[test]
    fn data_rows_are_all_features() {
        for line in [
            "5.1,3.5,1.4,0.2",
            "5.1,x,1.4,0.2",
            "150,4,5,6",
            "150,0,a,b",
            "1,2",
        ] {
            let c = cells(line);
            assert_eq!(first_line(c.iter().copied()), FirstLine::Data, "{line}");
        }
        let cols = columns("5.1,3.5,1.4,0.2");
        assert!(!cols.has_header);
        assert_eq!(cols.names, ["col1", "col2", "col3", "col4"]);
        assert_eq!(cols.features, [0, 1, 2, 3]);
        assert_eq!(first_line(cells(",,").iter().copied()), FirstLine::Data);
    }
}
