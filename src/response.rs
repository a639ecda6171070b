//! Reading predictions out of the response shapes real deployments return.

use serde::Serialize;
use serde_json::Value;

/// One row's prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub species: Option<String>,
    pub class_index: Option<usize>,
    pub probabilities: Vec<f64>,
    /// A raw score that is not a class (regression, binary probability).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// What a 200 response held.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Predictions(Vec<Prediction>),
    /// A non-proxy Lambda error: 200 with `errorMessage` (AWS_WIRE section 3).
    FunctionError {
        message: String,
        error_type: String,
    },
    /// Nothing recognisable: print the raw body with a warning.
    Unknown,
}

fn from_probabilities(probs: Vec<f64>, classes: &[String]) -> Prediction {
    let class_index = probs
        .iter()
        .enumerate()
        .fold(None, |best: Option<(usize, f64)>, (i, &p)| match best {
            Some((_, bp)) if bp >= p => best,
            _ => Some((i, p)),
        })
        .map(|(i, _)| i);
    Prediction {
        species: class_index.and_then(|i| classes.get(i).cloned()),
        class_index,
        probabilities: probs,
        score: None,
    }
}

/// A single number: a class index when it is a whole number naming a class, else a score.
fn from_number(v: f64, classes: &[String]) -> Prediction {
    if v >= 0.0 && v.fract() == 0.0 && (v as usize) < classes.len() {
        let i = v as usize;
        Prediction {
            species: classes.get(i).cloned(),
            class_index: Some(i),
            probabilities: Vec::new(),
            score: None,
        }
    } else {
        Prediction {
            species: None,
            class_index: None,
            probabilities: Vec::new(),
            score: Some(v),
        }
    }
}

fn from_label(label: &str, classes: &[String]) -> Prediction {
    if let Ok(v) = label.trim().parse::<f64>() {
        return from_number(v, classes);
    }
    Prediction {
        species: Some(label.to_string()),
        class_index: classes.iter().position(|c| c == label),
        probabilities: Vec::new(),
        score: None,
    }
}

fn numbers(v: &Value) -> Option<Vec<f64>> {
    v.as_array()?.iter().map(Value::as_f64).collect()
}

fn from_json_item(item: &Value, classes: &[String]) -> Option<Prediction> {
    match item {
        Value::String(s) => Some(from_label(s, classes)),
        Value::Number(n) => Some(from_number(n.as_f64()?, classes)),
        Value::Array(_) => Some(from_probabilities(numbers(item)?, classes)),
        Value::Object(obj) => {
            if let Some(probs) = obj.get("probabilities").and_then(numbers) {
                let mut p = if probs.is_empty() {
                    Prediction {
                        species: None,
                        class_index: None,
                        probabilities: probs,
                        score: None,
                    }
                } else {
                    from_probabilities(probs, classes)
                };
                if let Some(i) = obj.get("class_index").and_then(Value::as_u64) {
                    p.class_index = Some(i as usize);
                    p.species = classes.get(i as usize).cloned();
                }
                if let Some(s) = obj.get("species").and_then(Value::as_str) {
                    p.species = Some(s.to_string());
                }
                if p.class_index.is_none() && p.species.is_none() {
                    return None;
                }
                return Some(p);
            }
            if let Some(score) = obj.get("score") {
                return match score {
                    Value::Array(_) => Some(from_probabilities(numbers(score)?, classes)),
                    Value::Number(n) => Some(from_number(n.as_f64()?, classes)),
                    _ => None,
                };
            }
            for key in ["species", "label", "predicted_label", "prediction", "class"] {
                if let Some(v) = obj.get(key) {
                    let mut p = from_json_item(v, classes)?;
                    if let Some(probs) = obj.get("probabilities").and_then(numbers) {
                        p.probabilities = probs;
                    }
                    return Some(p);
                }
            }
            None
        }
        _ => None,
    }
}

/// CSV probability lines (`0.95,0.02,0.02\n` per row), class lines (`0.0\n`), or the older
/// containers' `[p0, p1, p2],[...]`.
fn from_text(text: &str, classes: &[String]) -> Option<Vec<Prediction>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.starts_with('[') {
        let wrapped: Value = serde_json::from_str(&format!("[{text}]")).ok()?;
        return wrapped
            .as_array()?
            .iter()
            .map(|row| Some(from_probabilities(numbers(row)?, classes)))
            .collect();
    }
    text.lines()
        .map(|line| {
            let values: Option<Vec<f64>> = line
                .split(',')
                .map(|c| c.trim().parse::<f64>().ok())
                .collect();
            let values = values?;
            Some(match values.as_slice() {
                [v] => from_number(*v, classes),
                _ => from_probabilities(values, classes),
            })
        })
        .collect()
}

/// Parse a successful response body.
pub fn parse(body: &[u8], classes: &[String]) -> Parsed {
    let Ok(text) = std::str::from_utf8(body) else {
        return Parsed::Unknown;
    };
    if let Ok(json) = serde_json::from_str::<Value>(text) {
        if let Some(obj) = json.as_object() {
            if let Some(msg) = obj.get("errorMessage") {
                return Parsed::FunctionError {
                    message: msg.as_str().map_or_else(|| msg.to_string(), str::to_string),
                    error_type: obj
                        .get("errorType")
                        .and_then(Value::as_str)
                        .unwrap_or("Error")
                        .to_string(),
                };
            }
            if let Some(items) = obj.get("predictions").and_then(Value::as_array) {
                let parsed: Option<Vec<Prediction>> =
                    items.iter().map(|i| from_json_item(i, classes)).collect();
                return match parsed {
                    Some(p) if !p.is_empty() => Parsed::Predictions(p),
                    _ => Parsed::Unknown,
                };
            }
        }
        if let Value::Array(items) = &json {
            // A list of labels or of probability vectors, one per row.
            let parsed: Option<Vec<Prediction>> =
                items.iter().map(|i| from_json_item(i, classes)).collect();
            return match parsed {
                Some(p) if !p.is_empty() => Parsed::Predictions(p),
                _ => Parsed::Unknown,
            };
        }
        return match from_json_item(&json, classes) {
            Some(p) => Parsed::Predictions(vec![p]),
            None => Parsed::Unknown,
        };
    }
    // JSON Lines: one object per row.
    let lines: Option<Vec<Prediction>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .and_then(|v| from_json_item(&v, classes))
        })
        .collect();
    if let Some(p) = lines.filter(|p| !p.is_empty()) {
        return Parsed::Predictions(p);
    }
    match from_text(text, classes) {
        Some(p) => Parsed::Predictions(p),
        None => Parsed::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iris() -> Vec<String> {
        ["setosa", "versicolor", "virginica"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn one(body: &str) -> Prediction {
        match parse(body.as_bytes(), &iris()) {
            Parsed::Predictions(p) => p[0].clone(),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn every_known_shape() {
        let emulator = r#"{"predictions": [{"species": "setosa", "class_index": 0, "probabilities": [0.95, 0.03, 0.02]}, {"species": "versicolor", "class_index": 1, "probabilities": [0.02, 0.95, 0.03]}]}"#;
        match parse(emulator.as_bytes(), &iris()) {
            Parsed::Predictions(p) => {
                assert_eq!(p.len(), 2);
                assert_eq!(p[1].species.as_deref(), Some("versicolor"));
                assert_eq!(p[1].probabilities, vec![0.02, 0.95, 0.03]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(one(r#""setosa""#).class_index, Some(0));
        assert_eq!(one("2").species.as_deref(), Some("virginica"));
        assert_eq!(one("2.0").species.as_deref(), Some("virginica"));
        assert_eq!(one(r#"{"label": "virginica"}"#).class_index, Some(2));
        assert_eq!(
            one(r#"{"predicted_label": 1.0}"#).species.as_deref(),
            Some("versicolor")
        );
        let xgb = one(r#"{"predictions": [{"score": [0.1, 0.8, 0.1]}]}"#);
        assert_eq!(xgb.class_index, Some(1));
        let csv = one("0.9531188011169434,0.024485334753990173,0.022395867854356766\n");
        assert_eq!(csv.species.as_deref(), Some("setosa"));
        assert_eq!(csv.probabilities.len(), 3);
        assert_eq!(one("1.0\n").species.as_deref(), Some("versicolor"));
        let old = one("[0.1, 0.2, 0.7],[0.5, 0.3, 0.2]");
        assert_eq!(old.class_index, Some(2));
        let jsonl = one("{\"score\":[0.2,0.7,0.1]}\n{\"score\":[0.7,0.2,0.1]}\n");
        assert_eq!(jsonl.class_index, Some(1));
        assert_eq!(one("0.73").score, Some(0.73));
    }

    #[test]
    fn function_errors_and_unknown() {
        let err = r#"{"errorMessage": "'data'", "errorType": "KeyError", "stackTrace": []}"#;
        assert_eq!(
            parse(err.as_bytes(), &iris()),
            Parsed::FunctionError {
                message: "'data'".into(),
                error_type: "KeyError".into()
            }
        );
        assert_eq!(parse(b"<html>hello</html>", &iris()), Parsed::Unknown);
        assert_eq!(parse(br#"{"foo": 1}"#, &iris()), Parsed::Unknown);
        assert_eq!(parse(b"", &iris()), Parsed::Unknown);
    }
}
