//! Turning AWS error responses (AWS_WIRE.md sections 2 and 4) into one-line messages, hints
//! and exit codes; diffing API Gateway's canonical-request echo against ours.

use crate::error::{CliError, Exit};
use crate::protocol::Detail;
use crate::sign::Explanation;

/// An error response from API Gateway, Lambda or SageMaker, decoded.
#[derive(Debug, Clone)]
pub struct AwsError {
    pub status: u16,
    /// `x-amzn-ErrorType` without the `:http://...` suffix some services append.
    pub error_type: Option<String>,
    pub message: String,
    /// ModelError: the container's own message and status.
    pub original_message: Option<String>,
    pub original_status: Option<u16>,
    pub request_id: Option<String>,
    /// A redirect's target (redirects are reported, never followed).
    pub location: Option<String>,
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request id AWS assigned, from whichever header carries it.
pub fn request_id(headers: &reqwest::header::HeaderMap) -> Option<String> {
    ["x-amzn-requestid", "x-amz-request-id", "x-amz-apigw-id"]
        .iter()
        .find_map(|h| header(headers, h))
        .map(str::to_string)
}

impl AwsError {
    pub fn parse(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> AwsError {
        let error_type = header(headers, "x-amzn-errortype")
            .map(|t| t.split(':').next().unwrap_or(t).to_string());
        let text = String::from_utf8_lossy(body);
        let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = |names: &[&str]| -> Option<String> {
            let obj = json.as_ref()?.as_object()?;
            names.iter().find_map(|n| obj.get(*n)).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        let message = field(&["message", "Message", "errorMessage"])
            .unwrap_or_else(|| text.trim().to_string());
        let error_type = error_type
            .or_else(|| field(&["__type", "code", "Code", "errorType"]))
            .or_else(|| {
                json.as_ref()
                    .and_then(|j| j.get("ErrorCode"))
                    .map(|_| "ModelError".to_string())
            });
        AwsError {
            status,
            error_type,
            message,
            original_message: field(&["OriginalMessage"]),
            original_status: json
                .as_ref()
                .and_then(|j| j.get("OriginalStatusCode"))
                .and_then(|v| v.as_u64())
                .and_then(|v| u16::try_from(v).ok()),
            request_id: request_id(headers),
            location: header(headers, "location").map(str::to_string),
        }
    }

    /// The exit code, from the outcome taxonomy.
    pub fn exit(&self, detail: Detail) -> Exit {
        detail.outcome().exit()
    }

    /// "Signature expired" / "Signature not yet current" (API Gateway) or the JSON services'
    /// skew errors: the request can be re-signed with the server's clock and retried once.
    pub fn is_clock_skew(&self) -> bool {
        self.status == 403
            && (self.message.starts_with("Signature expired")
                || self.message.starts_with("Signature not yet current")
                || matches!(
                    self.error_type.as_deref(),
                    Some("RequestTimeTooSkewed" | "RequestExpired")
                ))
    }

    /// The first line of the message (signature mismatches carry a long echo after it).
    pub fn headline(&self) -> &str {
        self.message.lines().next().unwrap_or_default()
    }

    /// The one-line error: what AWS said, with its status and type.
    pub fn one_line(&self) -> String {
        crate::redact::server_text(&self.one_line_raw())
    }

    fn one_line_raw(&self) -> String {
        let kind = self.error_type.as_deref().unwrap_or("error");
        if (300..400).contains(&self.status) {
            return format!(
                "{} redirect to {} (not followed)",
                self.status,
                self.location.as_deref().unwrap_or("no Location")
            );
        }
        let mut line = format!("{} {kind}: {}", self.status, self.headline());
        if let Some(orig) = &self.original_message {
            let status = self
                .original_status
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            line = format!(
                "{} {kind}: the model container rejected the request{status}: {}",
                self.status,
                orig.lines().next().unwrap_or_default()
            );
        }
        line
    }

    /// Hints that tell the user what to do about this error.
    pub fn hints(&self) -> Vec<String> {
        let m = self.message.as_str();
        let mut hints = Vec::new();
        let t = self.error_type.as_deref().unwrap_or("");
        match (self.status, t) {
            (403, "MissingAuthenticationTokenException") | (403, _)
                if m == "Missing Authentication Token" =>
            {
                hints.push("API Gateway says this both for an unsigned request and for a path or method that does not exist: check the stage and resource in the URL (for example /species/irispredict) and that the method is POST".into());
            }
            (403, "IncompleteSignatureException") => hints.push(
                "the Authorization header arrived incomplete: a proxy or load balancer may have rewritten it".into(),
            ),
            (403, "UnrecognizedClientException") | (403, "InvalidClientTokenId") => hints.push(
                "AWS does not know this access key id, or its session token is missing or expired: check the profile in use, refresh temporary credentials (aws sso login / assume-role again)".into(),
            ),
            (403, "ExpiredTokenException") | (403, "ExpiredToken") => {
                hints.push("the session token has expired: refresh your temporary credentials".into())
            }
            (403, _) if m.starts_with("Forbidden. For troubleshooting Function URL") => hints.push(
                "the function URL (AuthType AWS_IAM) refused the caller: sign for service lambda, and grant lambda:InvokeFunctionUrl and lambda:InvokeFunction on the function".into(),
            ),
            (403, "ForbiddenException") if m == "Forbidden" => hints.push(
                "API Gateway wants a usage-plan API key: send it with -H 'x-api-key: KEY' (a missing or unknown key gets this, not an IAM deny)".into(),
            ),
            (403, "") if m == "Forbidden" => hints.push(
                "an HTTP API with IAM authorization refused the request: it was not signed, or the caller may not execute-api:Invoke this route".into(),
            ),
            (403, "AccessDeniedException") => hints.push(
                "the credentials are valid but their IAM policy does not allow this call: grant execute-api:Invoke (API Gateway) or sagemaker:InvokeEndpoint (SageMaker) on this resource".into(),
            ),
            (403, _) if m.starts_with("Credential should be scoped to a valid region") => hints.push(
                "the signing region is not the API's region: pass the right --region (it is part of the execute-api hostname)".into(),
            ),
            (403, _) if m.starts_with("Credential should be scoped to correct service") => hints.push(
                "the signing service is wrong: use --service execute-api for API Gateway or --service sagemaker for SageMaker runtime".into(),
            ),
            (403, _) if self.is_clock_skew() => hints.push(
                "your clock differs from AWS's by more than 5 minutes: sync it (e.g. with NTP)".into(),
            ),
            (429, _) if m == "Limit Exceeded" => hints.push(
                "the usage plan's quota for this API key is used up: wait for the period to reset or raise the quota".into(),
            ),
            (_, "ModelNotReadyException") => hints.push(
                "the endpoint is not ready: a serverless endpoint is still provisioning after scaling from zero (or a multi-model endpoint is loading the model); retry in a few seconds".into(),
            ),
            (429, _) => hints.push(
                "throttled: the stage/method rate or burst limit (or the endpoint's capacity) was exceeded; slow down, or raise the limit".into(),
            ),
            (_, "ThrottlingException") => hints.push(
                "SageMaker throttled InvokeEndpoint (it answers 400, not 429): slow down, or add instances / raise the endpoint's concurrency".into(),
            ),
            (300..=399, _) => hints.push(
                "iris-cli never follows redirects (they would carry the signed headers, session token included, to another host): call the final URL directly".into(),
            ),
            (413, _) => hints.push(
                "the request is too large: API Gateway takes 10 MB, Lambda 6 MB, SageMaker 6 MB (6 291 456 bytes); send fewer rows per request".into(),
            ),
            (424, _) if m.contains("timed out while waiting for a response from container") => hints.push(
                "the model container did not answer within SageMaker's 60 s limit: the input is not the problem; send fewer rows per request or give the endpoint more capacity".into(),
            ),
            (400, "ValidationError") if m.contains("not a multi-model endpoint") => hints.push(
                "the endpoint hosts a single model: drop the X-Amzn-SageMaker-Target-Model header".into(),
            ),
            (400, "ValidationError") if m.ends_with("has oversize body.") => hints.push(
                "a serverless endpoint takes at most 4 MB per request and response: send fewer rows per request".into(),
            ),
            (424, _) | (_, "ModelError") => hints.push(
                "the model rejected the input: check the number of features per row and that the rows are plain CSV numbers without a header".into(),
            ),
            (400, "ValidationError") if m.contains("not found") => hints.push(
                "check the endpoint name and the region: endpoints are per region and account".into(),
            ),
            (502, _) => hints.push(
                "the Lambda function failed or returned a malformed proxy response: look at its CloudWatch logs (/aws/lambda/<function>)".into(),
            ),
            (504, _) => hints.push(
                "the integration did not answer within API Gateway's timeout (29 s by default): a Lambda cold start or a slow endpoint".into(),
            ),
            (500, _) if t.is_empty() || m == "Internal server error" => hints.push(
                "API Gateway could not invoke the Lambda function (throttled or misconfigured integration); retry, and check the function's concurrency and permissions".into(),
            ),
            (503, _) if m == "Service Unavailable" => hints.push(
                "an HTTP API stops waiting for its integration after 30 s (its hard limit): a Lambda cold start or a slow endpoint".into(),
            ),
            (503, _) | (_, "ServiceUnavailable") => {
                hints.push("the service is temporarily unavailable: retry with backoff".into())
            }
            _ => {}
        }
        if let Some(id) = &self.request_id {
            hints.push(format!("request id: {id}"));
        }
        hints
    }
}

/// The canonical request and string-to-sign API Gateway echoes in a signature mismatch.
pub fn server_echo(message: &str) -> Option<(String, String)> {
    const CREQ: &str = "The Canonical String for this request should have been\n'";
    const STS: &str = "'\n\nThe String-to-Sign should have been\n'";
    let start = message.find(CREQ)? + CREQ.len();
    let mid = message[start..].find(STS)? + start;
    let sts_start = mid + STS.len();
    let sts_end = message[sts_start..].rfind('\'')? + sts_start;
    Some((
        message[start..mid].to_string(),
        message[sts_start..sts_end].to_string(),
    ))
}

struct CanonicalParts<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    signed_headers: &'a str,
    payload_hash: &'a str,
}

fn split_canonical(creq: &str) -> Option<CanonicalParts<'_>> {
    let lines: Vec<&str> = creq.split('\n').collect();
    if lines.len() < 6 {
        return None;
    }
    let blank = 3 + lines[3..].iter().position(|l| l.is_empty())?;
    let headers = lines[3..blank]
        .iter()
        .map(|l| l.split_once(':').unwrap_or((l, "")))
        .collect();
    Some(CanonicalParts {
        method: lines[0],
        path: lines[1],
        query: lines[2],
        headers,
        signed_headers: lines.get(blank + 1)?,
        payload_hash: lines.get(blank + 2)?,
    })
}

/// Name the first line where the server's canonical request (or string-to-sign) differs from
/// ours; with none, the secret key must be wrong.
pub fn diff_signature(
    ours: &Explanation,
    server_creq: &str,
    server_sts: &str,
    access_key: &str,
) -> String {
    let (Some(s), Some(o)) = (
        split_canonical(server_creq),
        split_canonical(&ours.canonical_request),
    ) else {
        return "could not parse the canonical request API Gateway echoed".into();
    };
    let differs = |what: &str, server: &str, ours: &str| {
        format!("the {what} differs: AWS signed '{server}', iris-cli signed '{ours}'")
    };
    if s.method != o.method {
        return differs("HTTP method (canonical request line 1)", s.method, o.method);
    }
    if s.path != o.path {
        return differs("path encoding (canonical request line 2)", s.path, o.path);
    }
    if s.query != o.query {
        return differs("query string (canonical request line 3)", s.query, o.query);
    }
    for (name, value) in &s.headers {
        match o.headers.iter().find(|(n, _)| n == name) {
            None => {
                return format!(
                    "header '{name}' differs: AWS signed '{name}:{value}', iris-cli did not sign it"
                )
            }
            Some((_, ov)) if ov != value => return differs(&format!("header '{name}'"), value, ov),
            _ => {}
        }
    }
    for (name, value) in &o.headers {
        if !s.headers.iter().any(|(n, _)| n == name) {
            return format!(
                "header '{name}' differs: iris-cli signed '{name}:{value}', AWS did not see it (a proxy may have removed it)"
            );
        }
    }
    if s.signed_headers != o.signed_headers {
        return differs("signed headers list", s.signed_headers, o.signed_headers);
    }
    if s.payload_hash != o.payload_hash {
        return differs(
            "body hash (the body was changed in transit, or x-amz-content-sha256 is wrong)",
            s.payload_hash,
            o.payload_hash,
        );
    }
    let sl: Vec<&str> = server_sts.split('\n').collect();
    let ol: Vec<&str> = ours.string_to_sign.split('\n').collect();
    if sl.get(1) != ol.get(1) {
        return differs(
            "date (string-to-sign line 2)",
            sl.get(1).unwrap_or(&""),
            ol.get(1).unwrap_or(&""),
        );
    }
    if sl.get(2) != ol.get(2) {
        return differs(
            "credential scope, date/region/service (string-to-sign line 3)",
            sl.get(2).unwrap_or(&""),
            ol.get(2).unwrap_or(&""),
        );
    }
    format!(
        "the canonical request and string-to-sign match AWS's line for line, so only the signature differs: the secret access key is wrong for access key id {access_key}"
    )
}

/// The error for an AWS error response, with hints and, for a signature mismatch, the line
/// that differs.
pub fn to_cli_error(
    err: &AwsError,
    detail: Detail,
    ours: Option<&Explanation>,
    access_key: &str,
) -> CliError {
    let mut cli = CliError::new(err.exit(detail), err.one_line());
    if let (Some((creq, sts)), Some(ours)) = (server_echo(&err.message), ours) {
        cli = cli.hint(crate::redact::server_text(&diff_signature(
            ours, &creq, &sts, access_key,
        )));
    }
    for h in err.hints() {
        cli = cli.hint(h);
    }
    cli
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn headers(error_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amzn-ErrorType",
            HeaderValue::from_str(error_type).unwrap(),
        );
        h.insert("x-amzn-RequestId", HeaderValue::from_static("req-1"));
        h
    }

    fn explanation(creq: &str) -> Explanation {
        Explanation {
            canonical_request: creq.into(),
            string_to_sign: "AWS4-HMAC-SHA256\n20240101T000000Z\n20240101/us-east-1/execute-api/aws4_request\nabc".into(),
            signed_headers: String::new(),
        }
    }

    const CREQ: &str = "POST\n/species/irispredict\n\ncontent-type:application/json\nhost:h\nx-amz-date:20240101T000000Z\n\ncontent-type;host;x-amz-date\nhash";

    #[test]
    fn decodes_signature_mismatch_and_names_the_line() {
        let body = format!(
            "{{\"message\":{}}}",
            serde_json::to_string(&format!("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'{}'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20240101T000000Z\n20240101/us-east-1/execute-api/aws4_request\nabc'\n", CREQ.replace("/species/irispredict", "/species/iris%2520predict"))).unwrap()
        );
        let err = AwsError::parse(403, &headers("InvalidSignatureException"), body.as_bytes());
        assert_eq!(err.exit(Detail::Signature), Exit::Auth);
        assert!(err
            .one_line()
            .starts_with("403 InvalidSignatureException: The request signature we calculated"));
        let (creq, _) = server_echo(&err.message).unwrap();
        assert!(creq.starts_with("POST\n/species/iris%2520predict\n"));
        let cli = to_cli_error(&err, Detail::Signature, Some(&explanation(CREQ)), "AKID");
        assert!(cli.hints[0].contains("path encoding"), "{:?}", cli.hints);

        // Same canonical request: the secret must be wrong.
        let body = body.replace("iris%2520predict", "irispredict");
        let err = AwsError::parse(403, &headers("InvalidSignatureException"), body.as_bytes());
        let cli = to_cli_error(&err, Detail::Signature, Some(&explanation(CREQ)), "AKID");
        assert!(
            cli.hints[0].contains("secret access key is wrong"),
            "{:?}",
            cli.hints
        );
    }

    #[test]
    fn model_error_and_codes() {
        let body = br#"{"ErrorCode":"CLIENT_ERROR_FROM_MODEL","LogStreamArn":"arn","Message":"Received client error (400) from primary with message \"Unable to evaluate payload provided: Feature size of csv inference data 3 is not consistent with feature size of trained model 4.\". See ...","OriginalMessage":"Unable to evaluate payload provided: Feature size of csv inference data 3 is not consistent with feature size of trained model 4.","OriginalStatusCode":400}"#;
        let err = AwsError::parse(
            424,
            &headers("ModelError:http://internal.amazon.com/coral/com.amazon.sagemaker/"),
            body,
        );
        assert_eq!(err.error_type.as_deref(), Some("ModelError"));
        assert_eq!(err.exit(Detail::ModelError), Exit::Client);
        assert!(
            err.one_line().contains(
                "(400): Unable to evaluate payload provided: Feature size of csv inference data 3"
            ),
            "{}",
            err.one_line()
        );
        let throttled = AwsError::parse(
            429,
            &HeaderMap::new(),
            br#"{"message":"Too Many Requests"}"#,
        );
        assert_eq!(throttled.exit(Detail::GatewayThrottle), Exit::Server);
        assert!(throttled.hints()[0].contains("throttled"));
        let skew = AwsError::parse(403, &headers("InvalidSignatureException"), br#"{"message":"Signature expired: 20170212T175938Z is now earlier than 20170215T145534Z (20170215T150034Z - 5 min.)"}"#);
        assert!(skew.is_clock_skew());
        let text = AwsError::parse(
            413,
            &HeaderMap::new(),
            b"HTTP content length exceeded 10485760 bytes.",
        );
        assert_eq!(text.message, "HTTP content length exceeded 10485760 bytes.");
        assert_eq!(text.exit(Detail::TooLarge), Exit::Client);
    }

    #[test]
    fn hints_for_the_emulated_limits_and_other_fronts() {
        let first_hint = |status, t: &str, body: &[u8]| {
            let h = if t.is_empty() {
                HeaderMap::new()
            } else {
                headers(t)
            };
            AwsError::parse(status, &h, body).hints()[0].clone()
        };
        let timeout = br#"{"ErrorCode":"SERVER_ERROR_FROM_MODEL","Message":"Received server error (0) from primary with message \"Your invocation timed out while waiting for a response from container primary. Review the latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again.\". See ..."}"#;
        let h = first_hint(424, "ModelError", timeout);
        assert!(
            h.contains("60 s") && !h.contains("number of features"),
            "{h}"
        );
        let h = first_hint(403, "ForbiddenException", br#"{"message":"Forbidden"}"#);
        assert!(h.contains("x-api-key") && !h.contains("IAM policy"), "{h}");
        let h = first_hint(403, "", br#"{"message":"Forbidden"}"#);
        assert!(h.contains("HTTP API"), "{h}");
        let h = first_hint(503, "", br#"{"message":"Service Unavailable"}"#);
        assert!(h.contains("30 s"), "{h}");
        let h = first_hint(403, "AccessDeniedException", br#"{"Message":"Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"}"#);
        assert!(h.contains("lambda:InvokeFunctionUrl"), "{h}");
        let h = first_hint(429, "ModelNotReadyException", br#"{"message":"x"}"#);
        assert!(h.contains("serverless"), "{h}");
        let h = first_hint(400, "ValidationError", br#"{"ErrorCode":"TARGET_MODEL_HEADER_NOT_SUPPORTED","Message":"Endpoint iris-xgb is not a multi-model endpoint and does not support target model header."}"#);
        assert!(h.contains("Target-Model"), "{h}");
        let h = first_hint(
            400,
            "ValidationError",
            br#"{"message":"Request 1-2 has oversize body."}"#,
        );
        assert!(h.contains("4 MB"), "{h}");
    }
}
