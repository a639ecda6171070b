//! Postman, the seed's own client: export a collection + environment for the emulator
//! (`serve --postman DIR`), and run a request of a user's collection (`--postman-collection FILE
//! --request NAME`), its URL, body, headers and `awsv4` region/service taken from the file and
//! its credentials from the AWS chain, never from keys pasted into Postman.
//!
//! Format: Postman Collection v2.1 (v2.0 reads the same for what is used here) and Postman's
//! environment file (`values[]` of `key`/`value`/`enabled`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::CliError;

pub const COLLECTION_FILE: &str = "iris-cli.postman_collection.json";
pub const ENVIRONMENT_FILE: &str = "iris-cli.postman_environment.json";
const SCHEMA: &str = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json";

/// What `serve` knows about itself, for the environment file.
pub struct ServeVars<'a> {
    pub invoke_url: &'a str,
    pub endpoint_url: &'a str,
    pub endpoint_name: &'a str,
    pub region: &'a str,
    pub access_key: &'a str,
    /// None for keys from `--credentials FILE`: those secrets are never written; the user fills
    /// in `AWS_SECRET_ACCESS_KEY` in Postman.
    pub secret_key: Option<&'a str>,
    /// With `--credentials FILE`, where the secret is.
    pub secret_from: Option<&'a Path>,
}

/// Write the collection and the environment into `dir` (created if missing).
pub fn write_export(dir: &Path, vars: &ServeVars<'_>) -> anyhow::Result<(PathBuf, PathBuf)> {
    use anyhow::Context as _;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let collection = dir.join(COLLECTION_FILE);
    let environment = dir.join(ENVIRONMENT_FILE);
    for (path, doc) in [
        (&collection, collection_json()),
        (&environment, environment_json(vars)),
    ] {
        let text = serde_json::to_string_pretty(&doc)? + "\n";
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok((collection, environment))
}

fn awsv4(service: &str) -> Value {
    let kv = |k: &str, v: &str| json!({"key": k, "value": v, "type": "string"});
    json!({
        "type": "awsv4",
        "awsv4": [
            kv("accessKey", "{{AWS_ACCESS_KEY_ID}}"),
            kv("secretKey", "{{AWS_SECRET_ACCESS_KEY}}"),
            kv("region", "{{AWS_REGION}}"),
            kv("service", service),
        ]
    })
}

fn tests(lines: &[&str]) -> Value {
    json!([{"listen": "test", "script": {"type": "text/javascript", "exec": lines}}])
}

fn item(name: &str, url: &str, content_type: &str, body: &str, auth: Value, test: Value) -> Value {
    json!({
        "name": name,
        "event": test,
        "request": {
            "auth": auth,
            "method": "POST",
            "header": [{"key": "Content-Type", "value": content_type}],
            "body": {"mode": "raw", "raw": body},
            "url": url,
        }
    })
}

/// The emulator's routes, each with Postman tests (run by Newman in the test suite).
pub fn collection_json() -> Value {
    let api = "{{IRIS_URL}}";
    let sm = "{{IRIS_ENDPOINT_URL}}/endpoints/{{IRIS_ENDPOINT_NAME}}/invocations";
    let mut wrong = awsv4("execute-api");
    wrong["awsv4"][1]["value"] = json!("wrongSecretForTheNegativeTest000000000000");
    json!({
        "info": {
            "name": "iris-cli emulator",
            "description": "The routes of `iris-cli serve` (API Gateway with AWS_IAM auth -> Lambda -> SageMaker XGBoost). Import with the environment file beside it; every request is signed with Postman's AWS Signature auth.",
            "schema": SCHEMA,
        },
        "auth": awsv4("execute-api"),
        "item": [
            item("predict", api, "application/json", r#"{"data":"5.1,3.5,1.4,0.2"}"#, awsv4("execute-api"), tests(&[
                "pm.test('200', () => pm.response.to.have.status(200));",
                "pm.test('setosa', () => pm.expect(pm.response.json().predictions[0].species).to.eql('setosa'));",
                "pm.test('three probabilities', () => pm.expect(pm.response.json().predictions[0].probabilities).to.have.lengthOf(3));",
            ])),
            item("predict two rows", api, "application/json", r#"{"data":"5.1,3.5,1.4,0.2\n6.6,3.0,4.4,1.4"}"#, awsv4("execute-api"), tests(&[
                "pm.test('200', () => pm.response.to.have.status(200));",
                "pm.test('setosa, versicolor', () => pm.expect(pm.response.json().predictions.map(p => p.species)).to.eql(['setosa', 'versicolor']));",
            ])),
            item("invoke endpoint (SageMaker, CSV)", sm, "text/csv", "5.1,3.5,1.4,0.2", awsv4("sagemaker"), tests(&[
                "pm.test('200', () => pm.response.to.have.status(200));",
                "pm.test('probabilities', () => { const p = pm.response.text().trim().split(',').map(Number); pm.expect(p).to.have.lengthOf(3); pm.expect(p[0]).to.be.above(0.9); });",
            ])),
            item("wrong secret is refused (403)", api, "application/json", r#"{"data":"5.1,3.5,1.4,0.2"}"#, wrong, tests(&[
                "pm.test('403', () => pm.response.to.have.status(403));",
                "pm.test('signature mismatch', () => pm.expect(pm.response.json().message).to.include('signature we calculated does not match'));",
            ])),
        ]
    })
}

fn environment_json(v: &ServeVars<'_>) -> Value {
    let var = |k: &str, val: &str, secret: bool| json!({"key": k, "value": val, "type": if secret { "secret" } else { "default" }, "enabled": true});
    let secret = v.secret_key.unwrap_or("");
    let mut doc = json!({
        "name": format!("iris-cli serve {}", v.invoke_url),
        "values": [
            var("IRIS_URL", v.invoke_url, false),
            var("IRIS_ENDPOINT_URL", v.endpoint_url, false),
            var("IRIS_ENDPOINT_NAME", v.endpoint_name, false),
            var("AWS_REGION", v.region, false),
            var("AWS_ACCESS_KEY_ID", v.access_key, false),
            var("AWS_SECRET_ACCESS_KEY", secret, true),
        ],
        "_postman_variable_scope": "environment",
    });
    if let Some(from) = v.secret_from {
        doc["description"] = json!(format!(
            "AWS_SECRET_ACCESS_KEY is left empty: fill it in from {}",
            from.display()
        ));
    }
    doc
}

// ------------------------------------------------------------------ running a user's request

/// One request of a collection, variables resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `folder/name` path of the item.
    pub name: String,
    pub url: String,
    /// From its `awsv4` auth (its own, else the nearest folder's or the collection's).
    pub region: Option<String>,
    pub service: Option<String>,
    /// Enabled headers other than Content-Type, in order.
    pub headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A SageMaker InvokeEndpoint URL (`{base}/endpoints/{name}/invocations`), split into the
    /// base URL and the endpoint name, so batch and bench send it SageMaker's way.
    pub fn sagemaker_endpoint(&self) -> Option<(String, String)> {
        let (base, rest) = self.url.split_once("/endpoints/")?;
        let name = rest.strip_suffix("/invocations")?;
        (!name.is_empty() && !name.contains('/')).then(|| (base.to_string(), name.to_string()))
    }
}

/// Point `target` at the request named by `--postman-collection FILE --request NAME` (a
/// SageMaker invocations URL becomes --endpoint-name/--endpoint-url) and add its headers to
/// `headers` (`-H` values, which win); region and service from its auth unless given. Returns
/// the request (for its body and content type), or None without --postman-collection.
pub fn apply(
    args: &crate::cli::PostmanArgs,
    target: &mut crate::cli::TargetArgs,
    headers: &mut Vec<String>,
) -> Result<Option<Request>, CliError> {
    let (Some(file), Some(name)) = (&args.postman_collection, &args.request) else {
        return Ok(None);
    };
    let req = load(file, name, args.postman_environment.as_deref())?;
    match req.sagemaker_endpoint() {
        Some((base, endpoint)) => {
            target.endpoint_name = Some(endpoint);
            target.endpoint_url = Some(base);
        }
        None => target.url = Some(req.url.clone()),
    }
    if target.region.is_none() {
        target.region = req.region.clone();
    }
    if target.service.is_none() {
        target.service = req.service.clone();
    }
    let given: Vec<String> = headers
        .iter()
        .filter_map(|h| {
            h.split_once(':')
                .map(|(n, _)| n.trim().to_ascii_lowercase())
        })
        .collect();
    let from_file: Vec<String> = req
        .headers
        .iter()
        .filter(|(n, _)| {
            let n = n.to_ascii_lowercase();
            // Postman adds these itself when it signs; iris-cli signs afresh.
            !matches!(
                n.as_str(),
                "host"
                    | "authorization"
                    | "x-amz-date"
                    | "x-amz-security-token"
                    | "x-amz-content-sha256"
                    | "content-length"
            ) && !given.contains(&n)
        })
        .map(|(n, v)| format!("{n}: {v}"))
        .collect();
    headers.splice(0..0, from_file);
    Ok(Some(req))
}

/// Read `request` (its name, or `folder/name`) from the collection `file`, resolving `{{var}}`
/// from the collection's variables, then `environment` (a Postman environment file), then the
/// process environment.
pub fn load(file: &Path, request: &str, environment: Option<&Path>) -> Result<Request, CliError> {
    let doc = read_json(file, "--postman-collection")?;
    let mut vars: HashMap<String, String> = HashMap::new();
    if let Some(env_file) = environment {
        let env_doc = read_json(env_file, "--postman-environment")?;
        for v in env_doc["values"].as_array().into_iter().flatten() {
            if v["enabled"].as_bool() != Some(false) {
                if let (Some(k), Some(val)) = (v["key"].as_str(), v["value"].as_str()) {
                    vars.insert(k.to_string(), val.to_string());
                }
            }
        }
    }
    // Collection variables are the outer scope: an environment value wins, as in Postman.
    for v in doc["variable"].as_array().into_iter().flatten() {
        if let (Some(k), Some(val)) = (v["key"].as_str(), v["value"].as_str()) {
            vars.entry(k.to_string()).or_insert_with(|| val.to_string());
        }
    }
    let mut found = Vec::new();
    let mut names = Vec::new();
    walk(&doc, "", doc.get("auth"), request, &mut found, &mut names);
    let (path, item, auth) = match found.len() {
        1 => found.remove(0),
        0 => {
            return Err(CliError::usage(format!(
                "--request '{request}': no such request in {}",
                file.display()
            ))
            .hint(format!("requests: {}", names.join(", "))))
        }
        _ => {
            return Err(CliError::usage(format!(
                "--request '{request}': {} requests have that name in {}; give its folder too (folder/name)",
                found.len(),
                file.display()
            ))
            .hint(format!("requests: {}", names.join(", "))))
        }
    };
    let resolve = |s: &str| resolve_vars(s, &vars, &path);
    let req = &item["request"];
    let method = req["method"].as_str().unwrap_or("GET");
    if !method.eq_ignore_ascii_case("POST") {
        return Err(CliError::usage(format!(
            "--request '{path}' is a {method}: iris-cli sends POST requests only"
        )));
    }
    let url = match &req["url"] {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("raw")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    };
    if url.is_empty() {
        return Err(CliError::usage(format!("--request '{path}' has no URL")));
    }
    let url = resolve(&url)?;
    let mut headers = Vec::new();
    let mut content_type = None;
    for h in req["header"].as_array().into_iter().flatten() {
        if h["disabled"].as_bool() == Some(true) {
            continue;
        }
        let (Some(k), Some(v)) = (h["key"].as_str(), h["value"].as_str()) else {
            continue;
        };
        let v = resolve(v)?;
        if k.eq_ignore_ascii_case("content-type") {
            content_type = Some(v);
        } else {
            headers.push((k.to_string(), v));
        }
    }
    let body = match req["body"]["mode"].as_str() {
        None => None,
        Some("raw") => Some(resolve(req["body"]["raw"].as_str().unwrap_or_default())?.into_bytes()),
        Some(other) => {
            return Err(CliError::usage(format!(
                "--request '{path}': body mode '{other}' is not supported (only raw)"
            )))
        }
    };
    let (mut region, mut service) = (None, None);
    match auth {
        Some(a) if a["type"].as_str() == Some("awsv4") => {
            let field = |key: &str| -> Option<&str> {
                // v2.1: a list of {key, value}; v2.0: an object.
                match &a["awsv4"] {
                    Value::Array(list) => list
                        .iter()
                        .find(|kv| kv["key"].as_str() == Some(key))
                        .and_then(|kv| kv["value"].as_str()),
                    Value::Object(o) => o.get(key).and_then(Value::as_str),
                    _ => None,
                }
            };
            if let Some(r) = field("region").filter(|s| !s.is_empty()) {
                region = Some(resolve(r)?);
            }
            if let Some(s) = field("service").filter(|s| !s.is_empty()) {
                service = Some(resolve(s)?);
            }
        }
        Some(a) if !matches!(a["type"].as_str(), None | Some("noauth") | Some("inherit")) => {
            return Err(CliError::usage(format!(
                "--request '{path}' uses {} auth; iris-cli signs with AWS Signature (awsv4) only",
                a["type"].as_str().unwrap_or("unknown")
            )))
        }
        _ => {}
    }
    Ok(Request {
        name: path,
        url,
        region,
        service,
        headers,
        content_type,
        body,
    })
}

type Found<'a> = (String, &'a Value, Option<&'a Value>);

/// Depth first over folders; an item's auth is its own, else the nearest enclosing one.
fn walk<'a>(
    node: &'a Value,
    prefix: &str,
    auth: Option<&'a Value>,
    want: &str,
    found: &mut Vec<Found<'a>>,
    names: &mut Vec<String>,
) {
    for item in node["item"].as_array().into_iter().flatten() {
        let name = item["name"].as_str().unwrap_or_default();
        let path = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        let own = item
            .get("auth")
            .filter(|a| a["type"].as_str() != Some("inherit"))
            .or(item
                .get("request")
                .and_then(|r| r.get("auth"))
                .filter(|a| a["type"].as_str() != Some("inherit")));
        let auth = own.or(auth);
        if item.get("item").is_some() {
            walk(item, &path, auth, want, found, names);
        } else if item.get("request").is_some() {
            if name == want || path == want {
                found.push((path.clone(), item, auth));
            }
            names.push(format!("'{path}'"));
        }
    }
}

fn resolve_vars(
    s: &str,
    vars: &HashMap<String, String>,
    request: &str,
) -> Result<String, CliError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = after[..end].trim();
        let value = vars
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .ok_or_else(|| {
                CliError::usage(format!(
                    "--request '{request}': variable {{{{{name}}}}} is not set"
                ))
                .hint("set it in the collection, in --postman-environment FILE, or as an environment variable")
            })?;
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn read_json(file: &Path, flag: &str) -> Result<Value, CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::usage(format!("cannot read {flag} {}: {e}", file.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::usage(format!("{flag} {}: not JSON: {e}", file.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p
    }

    #[test]
    fn the_exported_collection_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (c, e) = write_export(
            dir.path(),
            &ServeVars {
                invoke_url: "http://127.0.0.1:9/species/irispredict",
                endpoint_url: "http://127.0.0.1:9",
                endpoint_name: "iris-xgb",
                region: "us-east-1",
                access_key: "AKID",
                secret_key: Some("s"),
                secret_from: None,
            },
        )
        .unwrap();
        let r = load(&c, "predict", Some(&e)).unwrap();
        assert_eq!(r.url, "http://127.0.0.1:9/species/irispredict");
        assert_eq!(r.region.as_deref(), Some("us-east-1"));
        assert_eq!(r.service.as_deref(), Some("execute-api"));
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            r.body.as_deref(),
            Some(&br#"{"data":"5.1,3.5,1.4,0.2"}"#[..])
        );
        assert_eq!(r.sagemaker_endpoint(), None);
        let sm = load(&c, "invoke endpoint (SageMaker, CSV)", Some(&e)).unwrap();
        assert_eq!(sm.service.as_deref(), Some("sagemaker"));
        assert_eq!(
            sm.sagemaker_endpoint(),
            Some(("http://127.0.0.1:9".into(), "iris-xgb".into()))
        );
    }

    #[test]
    fn folders_inherited_auth_variables_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let c = write(
            dir.path(),
            "c.json",
            &json!({
                "info": {"name": "x", "schema": SCHEMA},
                "variable": [{"key": "host", "value": "https://abc.execute-api.eu-west-1.amazonaws.com"}],
                "auth": {"type": "awsv4", "awsv4": {"region": "eu-west-1", "service": "execute-api", "secretKey": "pasted"}},
                "item": [
                    {"name": "prod", "item": [
                        {"name": "score", "request": {"method": "POST", "url": {"raw": "{{host}}/prod/score"},
                            "header": [{"key": "X-Trace", "value": "1"}, {"key": "X-Off", "value": "0", "disabled": true}],
                            "body": {"mode": "raw", "raw": "{\"data\":\"1,2,3,4\"}"}}}
                    ]},
                    {"name": "dev", "item": [
                        {"name": "score", "request": {"method": "POST", "url": "{{missing}}/x"}},
                        {"name": "list", "request": {"method": "GET", "url": "https://x"}}
                    ]}
                ]
            }),
        );
        let r = load(&c, "prod/score", None).unwrap();
        assert_eq!(
            r.url,
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/score"
        );
        assert_eq!(r.region.as_deref(), Some("eu-west-1"));
        assert_eq!(r.headers, [("X-Trace".to_string(), "1".to_string())]);
        let e = load(&c, "score", None).unwrap_err().to_string();
        assert!(e.contains("2 requests have that name"), "{e}");
        let e = load(&c, "dev/score", None).unwrap_err().to_string();
        assert!(e.contains("{{missing}} is not set"), "{e}");
        let e = load(&c, "dev/list", None).unwrap_err().to_string();
        assert!(e.contains("is a GET"), "{e}");
        let e = load(&c, "nope", None).unwrap_err();
        assert!(e.hints[0].contains("'prod/score'"), "{:?}", e.hints);
    }
}
