//! The SageMaker built-in XGBoost container (AWS_WIRE.md §5) and the runtime's wrapping of its
//! answers into InvokeEndpoint responses and errors (§4).

use super::model::{Model, Objective};
use crate::pyfloat::push_repr_f32;

/// What the container answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl ContainerResponse {
    fn error(status: u16, body: String) -> Self {
        // Flask's default mimetype for a plain `Response(str)`.
        ContainerResponse {
            status,
            content_type: "text/html; charset=utf-8",
            body,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    Csv,
    Json,
    JsonLines,
}

/// The container's `SUPPORTED_ACCEPTS`, in the order its error message prints them (unverified:
/// the order of the Python list is a guess).
const SUPPORTED_ACCEPTS: &str =
    "['application/json', 'application/jsonlines', 'application/x-recordio-protobuf', 'text/csv']";

/// The content types `data_utils.get_content_type` lists in its error message.
const VALID_CONTENT_TYPES: &str =
    "csv, libsvm, parquet, recordio-protobuf, text/csv, text/libsvm, \
text/x-libsvm, application/x-parquet, application/x-recordio-protobuf";

/// `cgi.parse_header` keeps what precedes the first `;`, stripped.
fn media_type(v: &str) -> &str {
    v.split(';').next().unwrap_or("").trim()
}

/// Accept as the container reads it: missing or `*/*` → CSV. `Err` carries the 406 body.
pub fn parse_accept(accept: Option<&str>) -> Result<Accept, String> {
    let raw = accept.map(media_type).unwrap_or("");
    if raw.is_empty() || raw == "*/*" {
        return Ok(Accept::Csv);
    }
    match raw.to_ascii_lowercase().as_str() {
        "text/csv" => Ok(Accept::Csv),
        "application/json" => Ok(Accept::Json),
        "application/jsonlines" => Ok(Accept::JsonLines),
        // recordio-protobuf is supported by the real container but not emulated: it gets the
        // same 406 as an unknown type, which is the one deliberate difference.
        _ => Err(format!(
            "Accept type {raw} is not supported. Please use supported accept types: {SUPPORTED_ACCEPTS}."
        )),
    }
}

/// Python's `repr` of a `str` (as in `could not convert string to float: 'abc'`).
pub fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn csv_load_error(err_type: &str, err: &str) -> ContainerResponse {
    ContainerResponse::error(
        415,
        format!(
            "Loading csv data failed with Exception, please ensure data is in csv format:\n <class '{err_type}'>\n {err}"
        ),
    )
}

/// Python's `float(s)` (numpy's `astype(float)` on a string) for one cell.
fn py_float(cell: &str) -> Option<f64> {
    let t = cell.trim();
    if t.is_empty() {
        // `_clean_csv_string` turned empty cells into 'nan' before this point.
        return Some(f64::NAN);
    }
    // Rust accepts the same forms as Python's float() except digit-group underscores
    // ('1_000'), which are vanishingly rare in CSV payloads.
    t.parse::<f64>().ok()
}

/// Parse a CSV payload into a row-major matrix, as `encoder.csv_to_dmatrix` does. Returns the
/// values (f32, NaN = missing) and the number of columns.
fn parse_csv(payload: &[u8]) -> Result<(Vec<f32>, usize), ContainerResponse> {
    let stripped = payload.trim_ascii();
    let text = match std::str::from_utf8(stripped) {
        Ok(t) => t,
        Err(e) => {
            let pos = e.valid_up_to();
            let byte = stripped[pos];
            return Err(csv_load_error(
                "UnicodeDecodeError",
                &format!(
                    "'utf-8' codec can't decode byte 0x{byte:02x} in position {pos}: invalid start byte"
                ),
            ));
        }
    };
    let mut values = Vec::with_capacity(text.len() / 3);
    let mut cols = None;
    let mut rows = 0usize;
    let mut ragged = false;
    // numpy converts only after building the whole array, so a ragged shape wins over a bad
    // cell; remember the first bad cell and report it if the shape is fine.
    let mut bad_cell: Option<&str> = None;
    for line in text.split('\n') {
        rows += 1;
        let mut n = 0usize;
        for cell in line.split(',') {
            n += 1;
            match py_float(cell) {
                Some(v) => values.push(v as f32),
                None => {
                    bad_cell.get_or_insert(cell);
                    values.push(f32::NAN);
                }
            }
        }
        match cols {
            None => cols = Some(n),
            Some(c) if c != n => ragged = true,
            _ => {}
        }
    }
    if ragged {
        return Err(csv_load_error(
            "ValueError",
            &format!(
                "setting an array element with a sequence. The requested array has an inhomogeneous shape after 1 dimensions. The detected shape was ({rows},) + inhomogeneous part."
            ),
        ));
    }
    if let Some(cell) = bad_cell {
        return Err(csv_load_error(
            "ValueError",
            &format!("could not convert string to float: {}", py_repr_str(cell)),
        ));
    }
    Ok((values, cols.unwrap_or(0)))
}

/// JSON text of a float as Python's `json.dumps` writes it.
pub fn push_json_f32(out: &mut String, v: f32) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        push_repr_f32(out, v);
    }
}

/// Python's `str` of a float, as the CSV encoder writes it.
fn push_str_f32(out: &mut String, v: f32) {
    if v.is_nan() {
        out.push_str("nan");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
    } else {
        push_repr_f32(out, v);
    }
}

/// One call to the container's `/invocations`.
pub fn invoke_container(
    model: &Model,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: &[u8],
) -> (ContainerResponse, usize) {
    if body.is_empty() {
        return (
            ContainerResponse {
                status: 204,
                content_type: "text/html; charset=utf-8",
                body: String::new(),
            },
            0,
        );
    }
    let ct = content_type.map(media_type).unwrap_or("");
    let ct_lower = ct.to_ascii_lowercase();
    match ct_lower.as_str() {
        // A missing Content-Type defaults to CSV in `get_content_type`.
        "" | "text/csv" | "csv" => {}
        "text/libsvm"
        | "text/x-libsvm"
        | "libsvm"
        | "application/x-recordio-protobuf"
        | "recordio-protobuf"
        | "application/x-parquet"
        | "parquet" => {
            // Accepted by the real container, not emulated.
            return (
                ContainerResponse::error(
                    415,
                    format!(
                        "Content-type {ct} is not supported by iris-cli serve (text/csv only)."
                    ),
                ),
                0,
            );
        }
        _ => {
            return (
                ContainerResponse::error(
                    415,
                    format!("{ct} is not an accepted ContentType: {VALID_CONTENT_TYPES}."),
                ),
                0,
            )
        }
    }
    let (values, cols) = match parse_csv(body) {
        Ok(v) => v,
        Err(e) => return (e, 0),
    };
    let want = model.num_features();
    if cols != want {
        return (
            ContainerResponse::error(
                400,
                format!(
                    "Unable to evaluate payload provided: Feature size of csv inference data {cols} is not consistent with feature size of trained model {want}."
                ),
            ),
            0,
        );
    }
    // The container checks Accept only after predicting (serve.py `invocations`).
    let accept = match parse_accept(accept) {
        Ok(a) => a,
        Err(msg) => return (ContainerResponse::error(406, msg), 0),
    };
    let rows = values.len() / cols.max(1);
    let n_out = model.num_outputs();
    let vector_output = model.objective() == Objective::MultiSoftprob;
    let mut out = vec![0f32; n_out];
    let mut text = String::with_capacity(rows * (n_out * 22 + 16) + 24);
    if accept == Accept::Json {
        text.push_str("{\"predictions\": [");
    }
    for (i, row) in values.chunks_exact(cols).enumerate() {
        model.predict_into(row, &mut out);
        match accept {
            Accept::Csv => {
                for (j, v) in out.iter().enumerate() {
                    if j > 0 {
                        text.push(',');
                    }
                    push_str_f32(&mut text, *v);
                }
                text.push('\n');
            }
            Accept::Json | Accept::JsonLines => {
                if accept == Accept::Json && i > 0 {
                    text.push_str(", ");
                }
                text.push_str("{\"score\": ");
                if vector_output {
                    text.push('[');
                    for (j, v) in out.iter().enumerate() {
                        if j > 0 {
                            text.push_str(", ");
                        }
                        push_json_f32(&mut text, *v);
                    }
                    text.push(']');
                } else {
                    push_json_f32(&mut text, out[0]);
                }
                text.push('}');
                if accept == Accept::JsonLines {
                    text.push('\n');
                }
            }
        }
    }
    if accept == Accept::Json {
        text.push_str("]}");
    }
    let content_type = match accept {
        Accept::Csv => "text/csv; charset=utf-8",
        Accept::Json => "application/json",
        Accept::JsonLines => "application/jsonlines",
    };
    (
        ContainerResponse {
            status: 200,
            content_type,
            body: text,
        },
        rows,
    )
}

/// JSON string literal (quotes included), escaped as AWS's Java services do.
pub fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The ModelError body the runtime returns when the container answers 4xx (AWS_WIRE §4).
pub fn model_error_body(
    region: &str,
    account: &str,
    endpoint: &str,
    c: &ContainerResponse,
) -> String {
    let group = format!("/aws/sagemaker/Endpoints/{endpoint}");
    let message = format!(
        "Received client error ({}) from primary with message \"{}\". See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={group} in account {account} for more information.",
        c.status, c.body
    );
    format!(
        "{{\"ErrorCode\":\"CLIENT_ERROR_FROM_MODEL\",\"LogStreamArn\":{},\"Message\":{},\"OriginalMessage\":{},\"OriginalStatusCode\":{}}}",
        json_str(&format!("arn:aws:logs:{region}:{account}:log-group:{group}")),
        json_str(&message),
        json_str(&c.body),
        c.status
    )
}

/// The ModelError for a container that did not answer within the 60 s limit (AWS_WIRE §9).
/// The message is captured ("Received server error (0) from primary with message ..."); the
/// `ErrorCode` value is unverified, and no `Original*` members are sent since no capture shows
/// them for a timeout (there is no container answer to quote).
pub fn model_timeout_body(region: &str, account: &str, endpoint: &str) -> String {
    let group = format!("/aws/sagemaker/Endpoints/{endpoint}");
    let original = super::server::CONTAINER_TIMEOUT_MESSAGE;
    let message = format!(
        "Received server error (0) from primary with message \"{original}\". See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={group} in account {account} for more information."
    );
    format!(
        "{{\"ErrorCode\":\"SERVER_ERROR_FROM_MODEL\",\"LogStreamArn\":{},\"Message\":{}}}",
        json_str(&format!(
            "arn:aws:logs:{region}:{account}:log-group:{group}"
        )),
        json_str(&message),
    )
}

/// `^[a-zA-Z0-9](-*[a-zA-Z0-9])*`, 1 to 63 characters.
pub fn valid_endpoint_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iris() -> Model {
        Model::iris()
    }

    #[test]
    fn empty_body_is_204() {
        let (r, rows) = invoke_container(&iris(), Some("text/csv"), None, b"");
        assert_eq!((r.status, r.body.as_str(), rows), (204, "", 0));
    }

    #[test]
    fn csv_rows_give_one_line_each() {
        let (r, rows) = invoke_container(
            &iris(),
            Some("text/csv"),
            None,
            b"5.1,3.5,1.4,0.2\n6.6,3.0,4.4,1.4\n",
        );
        assert_eq!(r.status, 200);
        assert_eq!(rows, 2);
        assert_eq!(r.content_type, "text/csv; charset=utf-8");
        assert_eq!(r.body.lines().count(), 2);
        assert!(r.body.ends_with('\n'));
        assert_eq!(r.body.lines().next().unwrap().split(',').count(), 3);
    }

    #[test]
    fn json_and_jsonlines_shapes() {
        let (j, _) = invoke_container(
            &iris(),
            None,
            Some("application/json"),
            b"5.1,3.5,1.4,0.2\n6.6,3.0,4.4,1.4",
        );
        assert!(j.body.starts_with("{\"predictions\": [{\"score\": ["));
        let v: serde_json::Value = serde_json::from_str(&j.body).unwrap();
        assert_eq!(v["predictions"].as_array().unwrap().len(), 2);
        let (l, _) = invoke_container(
            &iris(),
            None,
            Some("application/jsonlines"),
            b"5.1,3.5,1.4,0.2\n6.6,3.0,4.4,1.4",
        );
        assert_eq!(l.body.lines().count(), 2);
        assert!(l.body.starts_with("{\"score\": ["));
        assert_eq!(l.content_type, "application/jsonlines");
    }

    #[test]
    fn unsupported_accept_is_406_after_parsing() {
        let (r, _) = invoke_container(&iris(), None, Some("text/plain"), b"1,2,3,4");
        assert_eq!(r.status, 406);
        assert_eq!(r.body, format!("Accept type text/plain is not supported. Please use supported accept types: {SUPPORTED_ACCEPTS}."));
        // A bad payload is reported first.
        let (r, _) = invoke_container(&iris(), None, Some("text/plain"), b"1,2,3");
        assert_eq!(r.status, 400);
        assert_eq!(parse_accept(Some("*/*")), Ok(Accept::Csv));
        assert_eq!(
            parse_accept(Some("text/csv; charset=utf-8")),
            Ok(Accept::Csv)
        );
    }

    #[test]
    fn parse_errors_are_415_with_python_messages() {
        let (r, _) = invoke_container(&iris(), None, None, b"5.1,abc,1.4,0.2");
        assert_eq!(r.status, 415);
        assert_eq!(
            r.body,
            "Loading csv data failed with Exception, please ensure data is in csv format:\n <class 'ValueError'>\n could not convert string to float: 'abc'"
        );
        let (r, _) = invoke_container(&iris(), None, None, b"1,2,3,4\n1,2");
        assert_eq!(r.status, 415);
        assert!(r
            .body
            .ends_with("The detected shape was (2,) + inhomogeneous part."));
        let (r, _) = invoke_container(&iris(), Some("application/json"), None, b"{}");
        assert_eq!(r.status, 415);
        assert!(r
            .body
            .starts_with("application/json is not an accepted ContentType: csv, "));
    }

    #[test]
    fn missing_cells_are_nan_and_whitespace_is_stripped() {
        let (r, rows) = invoke_container(&iris(), None, None, b"  5.1,,1.4,0.2 \r\n");
        assert_eq!((r.status, rows), (200, 1));
    }

    #[test]
    fn feature_count_mismatch_is_400() {
        let (r, _) = invoke_container(&iris(), Some("text/csv"), None, b"5.1,3.5,1.4");
        assert_eq!(r.status, 400);
        assert_eq!(r.body, "Unable to evaluate payload provided: Feature size of csv inference data 3 is not consistent with feature size of trained model 4.");
    }

    #[test]
    fn model_error_body_matches_aws_wire() {
        let c = ContainerResponse::error(400, "bad \"x\"\n".into());
        let b = model_error_body("us-east-1", "123456789012", "iris-xgb", &c);
        assert_eq!(
            b,
            r#"{"ErrorCode":"CLIENT_ERROR_FROM_MODEL","LogStreamArn":"arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/iris-xgb","Message":"Received client error (400) from primary with message \"bad \"x\"\n\". See https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group=/aws/sagemaker/Endpoints/iris-xgb in account 123456789012 for more information.","OriginalMessage":"bad \"x\"\n","OriginalStatusCode":400}"#
        );
    }

    #[test]
    fn endpoint_names() {
        assert!(valid_endpoint_name("iris-xgb"));
        assert!(valid_endpoint_name("a--b"));
        assert!(!valid_endpoint_name("-a"));
        assert!(!valid_endpoint_name("a-"));
        assert!(!valid_endpoint_name("a_b"));
        assert!(!valid_endpoint_name(""));
        assert!(!valid_endpoint_name(&"a".repeat(64)));
    }

    #[test]
    fn python_str_repr() {
        assert_eq!(py_repr_str("abc"), "'abc'");
        assert_eq!(py_repr_str("it's"), "\"it's\"");
        assert_eq!(py_repr_str("a\tb"), "'a\\tb'");
    }
}
