//! The Rust evaluator and float formatter against what real xgboost and Python produced
//! (`payloads/train_model.py` wrote the files under `payloads/reference/`).

use std::path::{Path, PathBuf};

use iris_cli::emulator::model::{Model, Objective};
use iris_cli::pyfloat::push_repr_f32;

fn payloads() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("payloads")
}

fn load_model(name: &str) -> Model {
    Model::from_path(&payloads().join("model").join(format!("{name}.json"))).unwrap()
}

/// One reference row: the model's input and what `Booster.predict` returned.
type RefRow = (Vec<f32>, Vec<f32>);

/// Reference CSV: header `x0..,y0..`, then inputs and `Booster.predict` outputs.
fn load_reference(file: &str) -> (usize, Vec<RefRow>) {
    let path = payloads().join("reference").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let nx = header.split(',').filter(|h| h.starts_with('x')).count();
    let rows: Vec<_> = lines
        .map(|line| {
            let vals: Vec<f32> = line
                .split(',')
                .map(|c| c.parse::<f64>().unwrap() as f32)
                .collect();
            (vals[..nx].to_vec(), vals[nx..].to_vec())
        })
        .collect();
    (nx, rows)
}

/// Max |Δ| between the evaluator and the reference over one file; also checks the
/// file really exercises what it should.
fn max_abs_diff(model: &Model, file: &str, expected_rows: usize) -> f64 {
    let (nx, rows) = load_reference(file);
    assert_eq!(rows.len(), expected_rows, "{file}");
    assert_eq!(nx, model.num_features(), "{file}");
    let mut out = vec![0f32; model.num_outputs()];
    let mut worst = 0f64;
    for (i, (x, want)) in rows.iter().enumerate() {
        assert_eq!(want.len(), out.len(), "{file} row {i}");
        model.predict_into(x, &mut out);
        for (g, w) in out.iter().zip(want) {
            let d = (f64::from(*g) - f64::from(*w)).abs();
            assert!(d.is_finite(), "{file} row {i}: got {out:?}, want {want:?}");
            worst = worst.max(d);
        }
        if model.objective() == Objective::MultiSoftmax {
            assert_eq!(out, want.as_slice(), "{file} row {i}: class index differs");
        }
    }
    worst
}

fn check_model(name: &str, objective: Objective, num_features: usize) {
    let model = load_model(name);
    assert_eq!(model.objective(), objective);
    assert_eq!(model.num_features(), num_features);
    for (kind, rows) in [("iris", 150), ("random", 1000)] {
        let file = format!("{name}.{kind}.csv");
        let d = max_abs_diff(&model, &file, rows);
        println!("{file}: max |delta| = {d:e}");
        assert!(d <= 1e-6, "{file}: max |delta| = {d:e}");
    }
}

#[test]
fn softprob_matches_booster_predict() {
    check_model("iris-xgb", Objective::MultiSoftprob, 4);
}

#[test]
fn softmax_matches_booster_predict() {
    check_model("iris-xgb-softmax", Objective::MultiSoftmax, 4);
}

#[test]
fn binary_logistic_matches_booster_predict() {
    check_model("test-binary-logistic", Objective::BinaryLogistic, 4);
}

#[test]
fn reg_squarederror_matches_booster_predict() {
    check_model("test-reg-squarederror", Objective::RegSquaredError, 3);
}

#[test]
fn random_rows_cover_missing_values_and_split_thresholds() {
    let (_, rows) = load_reference("iris-xgb.random.csv");
    let cells = rows.len() * 4;
    let nan = rows
        .iter()
        .flat_map(|(x, _)| x)
        .filter(|v| v.is_nan())
        .count();
    assert!(nan * 20 > cells && nan * 5 < cells, "{nan} NaN of {cells}");
}

/// The older scalar form of base_score ("1.2E0" instead of "[1.2E0]") gives the same model.
#[test]
fn scalar_base_score_is_accepted() {
    let path = payloads().join("model/test-reg-squarederror.json");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find("\"base_score\":\"[").unwrap() + "\"base_score\":\"".len();
    let end = start + text[start..].find(']').unwrap();
    let scalar = format!(
        "{}{}{}",
        &text[..start],
        &text[start + 1..end],
        &text[end + 1..]
    );
    assert_ne!(scalar, text);
    let a = Model::from_json_slice(text.as_bytes()).unwrap();
    let b = Model::from_json_slice(scalar.as_bytes()).unwrap();
    let (_, rows) = load_reference("test-reg-squarederror.random.csv");
    let (mut oa, mut ob) = ([0f32], [0f32]);
    for (x, _) in &rows {
        a.predict_into(x, &mut oa);
        b.predict_into(x, &mut ob);
        assert_eq!(oa, ob);
    }
}

#[test]
fn embedded_iris_model_is_the_payload() {
    let a = Model::iris();
    let b = load_model("iris-xgb");
    let (_, rows) = load_reference("iris-xgb.random.csv");
    let (mut oa, mut ob) = ([0f32; 3], [0f32; 3]);
    for (x, _) in &rows {
        a.predict_into(x, &mut oa);
        b.predict_into(x, &mut ob);
        assert_eq!(oa, ob);
    }
}

/// AWS_WIRE.md §5: the container's text/csv answer for two rows.
#[test]
fn aws_wire_example_is_reproduced() {
    let model = Model::iris();
    let mut body = String::new();
    let mut out = [0f32; 3];
    for row in [[5.1f32, 3.5, 1.4, 0.2], [6.6, 3.0, 4.4, 1.4]] {
        model.predict_into(&row, &mut out);
        for (i, p) in out.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            push_repr_f32(&mut body, *p);
        }
        body.push('\n');
    }
    assert_eq!(
        body,
        "0.9531188011169434,0.024485334753990173,0.022395867854356766\n\
         0.02417280524969101,0.9513594508171082,0.024467801675200462\n"
    );
}

#[test]
fn pyrepr_matches_python_on_10000_values() {
    let text = std::fs::read_to_string(payloads().join("reference/pyrepr_f32.txt")).unwrap();
    let mut n = 0;
    let mut s = String::new();
    for line in text.lines() {
        let (hex, want) = line.split_once(' ').unwrap();
        let v = f32::from_bits(u32::from_str_radix(hex, 16).unwrap());
        s.clear();
        push_repr_f32(&mut s, v);
        assert_eq!(s, want, "bits {hex}");
        n += 1;
    }
    assert_eq!(n, 10_000);
}
