//! Server-side SigV4 verification, written from the AWS specification ("Create a signed AWS API
//! request", "Elements of an AWS API request signature") independently of the client's signer
//! (aws-sigv4), so that the two check each other.
//!
//! The order of the checks and the wording of the rejections follow what AWS's front ends send
//! (AWS_WIRE.md section 2); where no capture pins a message down, the comment next to it says so.
//! Check order, as observed on AWS's shared request front end:
//! 1. `Authorization` present, `key=value` syntax, required parameters and a date header;
//! 2. date syntax, then the ±5 min window;
//! 3. `host` signed, algorithm, credential shape, then the scope (region, service, terminator,
//!    date — all failures reported together);
//! 4. access key, then the signature, then the session token.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An IAM action a key may be allowed to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `execute-api:Invoke`
    ExecuteApiInvoke,
    /// `sagemaker:InvokeEndpoint`
    SageMakerInvokeEndpoint,
    /// `lambda:InvokeFunctionUrl` (a function URL with `AuthType: AWS_IAM`)
    LambdaInvokeFunctionUrl,
    /// `cloudwatch:GetMetricData`
    CloudWatchGetMetricData,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::ExecuteApiInvoke,
        Action::SageMakerInvokeEndpoint,
        Action::LambdaInvokeFunctionUrl,
        Action::CloudWatchGetMetricData,
    ];

    /// The IAM spelling, e.g. `execute-api:Invoke`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ExecuteApiInvoke => "execute-api:Invoke",
            Action::SageMakerInvokeEndpoint => "sagemaker:InvokeEndpoint",
            Action::LambdaInvokeFunctionUrl => "lambda:InvokeFunctionUrl",
            Action::CloudWatchGetMetricData => "cloudwatch:GetMetricData",
        }
    }

    /// The SigV4 signing name of the service the action belongs to.
    pub fn service(self) -> &'static str {
        match self {
            Action::ExecuteApiInvoke => "execute-api",
            Action::SageMakerInvokeEndpoint => "sagemaker",
            Action::LambdaInvokeFunctionUrl => "lambda",
            Action::CloudWatchGetMetricData => "monitoring",
        }
    }

    /// The action a request signed for `service` (the SigV4 signing name) performs.
    pub fn for_service(service: &str) -> Option<Action> {
        match service {
            "execute-api" => Some(Action::ExecuteApiInvoke),
            "sagemaker" => Some(Action::SageMakerInvokeEndpoint),
            "lambda" => Some(Action::LambdaInvokeFunctionUrl),
            "monitoring" => Some(Action::CloudWatchGetMetricData),
            _ => None,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Action {
    type Err = String;

    /// Exact IAM spelling; IAM matches action names case-insensitively, so do we.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown action {s:?} (expected execute-api:Invoke, sagemaker:InvokeEndpoint, lambda:InvokeFunctionUrl or cloudwatch:GetMetricData)")
            })
    }
}

/// A key the emulator accepts, and what it may call.
#[derive(Clone)]
pub struct Principal {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
    /// e.g. `arn:aws:iam::123456789012:user/iris-local`
    pub arn: String,
    pub actions: Vec<Action>,
}

impl Principal {
    /// Whether this key's policy allows `action`.
    pub fn may(&self, action: Action) -> bool {
        self.actions.contains(&action)
    }
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("arn", &self.arn)
            .field("actions", &self.actions)
            .finish()
    }
}

/// Built-in test credentials: long-term key allowed everything.
pub const TEST_ACCESS_KEY: &str = "AKIAIRISLOCALTEST001";
/// 40 characters, as AWS's secret access keys are.
pub const TEST_SECRET_KEY: &str = "irisLocalTestSecretKey000000000000000001";
/// Built-in temporary credentials (they need the session token).
pub const TEST_TEMP_ACCESS_KEY: &str = "ASIAIRISLOCALTEST002";
pub const TEST_TEMP_SECRET_KEY: &str = "irisLocalTestSecretKey000000000000000002";
pub const TEST_SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEIrisLocalTestSessionToken//////////0002";

/// Derived signing keys, one map per principal (same index), keyed by the credential scope
/// `date/region/service/aws4_request`. Deriving a key costs four HMACs; a cached one costs a
/// read lock and a hash lookup.
#[derive(Clone, Default)]
struct SigningKeyCache(Arc<Vec<RwLock<ScopeKeys>>>);

/// Signing keys of one principal by credential scope.
type ScopeKeys = HashMap<String, [u8; 32]>;

/// Scopes change once a day per region and service; a handful per key is normal, so a map that
/// grows past this is cleared rather than managed.
const CACHE_MAX_SCOPES: usize = 64;

impl SigningKeyCache {
    fn new(n: usize) -> Self {
        SigningKeyCache(Arc::new((0..n).map(|_| RwLock::default()).collect()))
    }

    fn get_or_derive(&self, index: usize, secret: &str, scope: &Scope<'_>) -> [u8; 32] {
        let Some(slot) = self.0.get(index) else {
            return signing_key(secret, scope.date, scope.region, scope.service);
        };
        if let Some(key) = slot.read().ok().and_then(|m| m.get(scope.full).copied()) {
            return key;
        }
        let key = signing_key(secret, scope.date, scope.region, scope.service);
        if let Ok(mut map) = slot.write() {
            if map.len() >= CACHE_MAX_SCOPES {
                map.clear();
            }
            map.insert(scope.full.to_owned(), key);
        }
        key
    }
}

impl std::fmt::Debug for SigningKeyCache {
    // Never the keys themselves: they are as good as the secret for a day.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: usize = self
            .0
            .iter()
            .map(|m| m.read().map(|m| m.len()).unwrap_or(0))
            .sum();
        write!(f, "SigningKeyCache({n} keys)")
    }
}

#[derive(Debug, Clone, Default)]
pub struct KeyStore {
    principals: Vec<Principal>,
    cache: SigningKeyCache,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    keys: Vec<KeyFileEntry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileEntry {
    access_key: String,
    secret_key: String,
    #[serde(default)]
    session_token: Option<String>,
    arn: String,
    actions: Vec<String>,
}

impl KeyStore {
    /// The built-in test keys (see the constants above).
    pub fn builtin() -> Self {
        let all = Action::ALL.to_vec();
        KeyStore::from_principals(vec![
            Principal {
                access_key: TEST_ACCESS_KEY.into(),
                secret_key: TEST_SECRET_KEY.into(),
                session_token: None,
                arn: "arn:aws:iam::123456789012:user/iris-local".into(),
                actions: all.clone(),
            },
            Principal {
                access_key: TEST_TEMP_ACCESS_KEY.into(),
                secret_key: TEST_TEMP_SECRET_KEY.into(),
                session_token: Some(TEST_SESSION_TOKEN.into()),
                arn: "arn:aws:sts::123456789012:assumed-role/iris-local/session".into(),
                actions: all,
            },
        ])
    }

    pub fn from_principals(principals: Vec<Principal>) -> Self {
        let cache = SigningKeyCache::new(principals.len());
        KeyStore { principals, cache }
    }

    /// Load `--credentials FILE`, a JSON document:
    ///
    /// ```json
    /// {"keys": [
    ///   {"access_key": "AKIAEXAMPLE",
    ///    "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    ///    "session_token": null,
    ///    "arn": "arn:aws:iam::123456789012:user/x",
    ///    "actions": ["execute-api:Invoke", "sagemaker:InvokeEndpoint"]}
    /// ]}
    /// ```
    ///
    /// `session_token` may be omitted or null for a long-term key; a key that has one is
    /// temporary and every request must carry it in `X-Amz-Security-Token`. `actions` lists
    /// what the key may call (`execute-api:Invoke`, `sagemaker:InvokeEndpoint`); an empty list
    /// gives a key that authenticates but is denied everything. Unknown fields, unknown actions,
    /// empty keys and duplicate access keys are errors.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("credentials file {shown}: cannot read it: {e}"))?;
        let file: KeyFile = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("credentials file {shown}: invalid: {e}"))?;
        if file.keys.is_empty() {
            anyhow::bail!("credentials file {shown}: \"keys\" is empty; give at least one key");
        }
        let mut principals = Vec::with_capacity(file.keys.len());
        for (i, entry) in file.keys.into_iter().enumerate() {
            let at = format!("credentials file {shown}: keys[{i}]");
            if entry.access_key.is_empty()
                || !entry.access_key.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                anyhow::bail!("{at}: access_key must be non-empty and alphanumeric");
            }
            if entry.secret_key.is_empty() {
                anyhow::bail!("{at} ({}): secret_key is empty", entry.access_key);
            }
            if entry.session_token.as_deref() == Some("") {
                anyhow::bail!(
                    "{at} ({}): session_token is empty; use null",
                    entry.access_key
                );
            }
            if !entry.arn.starts_with("arn:") {
                anyhow::bail!(
                    "{at} ({}): arn {:?} does not start with \"arn:\"",
                    entry.access_key,
                    entry.arn
                );
            }
            if principals
                .iter()
                .any(|p: &Principal| p.access_key == entry.access_key)
            {
                anyhow::bail!("{at}: access_key {} appears twice", entry.access_key);
            }
            let mut actions = Vec::new();
            for (j, a) in entry.actions.iter().enumerate() {
                let action: Action = a.parse().map_err(|e| {
                    anyhow::anyhow!("{at} ({}): actions[{j}]: {e}", entry.access_key)
                })?;
                if !actions.contains(&action) {
                    actions.push(action);
                }
            }
            principals.push(Principal {
                access_key: entry.access_key,
                secret_key: entry.secret_key,
                session_token: entry.session_token,
                arn: entry.arn,
                actions,
            });
        }
        Ok(KeyStore::from_principals(principals))
    }

    pub fn lookup(&self, access_key: &str) -> Option<&Principal> {
        self.principals.iter().find(|p| p.access_key == access_key)
    }

    fn lookup_index(&self, access_key: &str) -> Option<(usize, &Principal)> {
        self.principals
            .iter()
            .enumerate()
            .find(|(_, p)| p.access_key == access_key)
    }

    pub fn principals(&self) -> &[Principal] {
        &self.principals
    }
}

/// The parts of a received request that SigV4 covers, exactly as they came off the wire.
pub struct RequestView<'a> {
    pub method: &'a str,
    /// Raw path as sent (still percent-encoded), without the query.
    pub path: &'a str,
    /// Raw query string as sent, without the `?`.
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

/// A rejected request: what AWS would answer (AWS_WIRE.md section 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    /// Value of `x-amzn-ErrorType`.
    pub error_type: &'static str,
    /// The message text, unescaped; the front end renders it into its JSON body.
    pub message: String,
}

pub const MISSING_AUTHENTICATION_TOKEN: &str = "MissingAuthenticationTokenException";
pub const INCOMPLETE_SIGNATURE: &str = "IncompleteSignatureException";
pub const INVALID_SIGNATURE: &str = "InvalidSignatureException";
pub const UNRECOGNIZED_CLIENT: &str = "UnrecognizedClientException";
pub const ACCESS_DENIED: &str = "AccessDeniedException";

/// The first sentence of a signature-mismatch message (the echo follows it).
pub const SIGNATURE_MISMATCH_PREFIX: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

impl Rejection {
    fn forbidden(error_type: &'static str, message: impl Into<String>) -> Self {
        Rejection {
            status: 403,
            error_type,
            message: message.into(),
        }
    }

    /// No `Authorization` header (API Gateway also answers this for unknown paths/methods).
    pub fn missing_token() -> Self {
        Rejection::forbidden(MISSING_AUTHENTICATION_TOKEN, "Missing Authentication Token")
    }

    /// Unknown access key id. The type is unverified for API Gateway (AWS_WIRE §2); the message
    /// is the one AWS's JSON services send.
    pub fn invalid_token() -> Self {
        Rejection::forbidden(
            UNRECOGNIZED_CLIENT,
            "The security token included in the request is invalid.",
        )
    }

    /// IAM denied the call: `User: <arn> is not authorized to perform: <action> on resource: <resource>`.
    /// API Gateway renders this one with a capital `Message` (see [`Rejection::apigw_body`]).
    pub fn access_denied(arn: &str, action: Action, resource: &str) -> Self {
        Rejection::forbidden(
            ACCESS_DENIED,
            format!("User: {arn} is not authorized to perform: {action} on resource: {resource}"),
        )
    }

    /// The signature mismatch, echoing the server's canonical request and string-to-sign.
    pub fn signature_mismatch(canonical_request: &str, string_to_sign: &str) -> Self {
        Rejection::forbidden(
            INVALID_SIGNATURE,
            format!(
                "{SIGNATURE_MISMATCH_PREFIX}\n\nThe Canonical String for this request should have been\n'{canonical_request}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
            ),
        )
    }

    /// API Gateway's auth-phase body: `{"message":"..."}` with no space after the colon, or
    /// `{"Message":"..."}` for an IAM deny.
    pub fn apigw_body(&self) -> String {
        let key = if self.error_type == ACCESS_DENIED {
            "Message"
        } else {
            "message"
        };
        json_object(key, &self.message)
    }

    /// The SageMaker runtime's body: rest-json `{"message":"..."}`. Unverified: no capture of
    /// a SageMaker runtime auth failure pins the spacing or the key's case; this is the form
    /// AWS's rest-json services use for these errors.
    pub fn sagemaker_body(&self) -> String {
        json_object("message", &self.message)
    }
}

fn json_object(key: &str, message: &str) -> String {
    // serde_json escapes exactly what JSON requires (quotes, backslashes, control characters as
    // \n, \t or \u00XX) and leaves `/` and non-ASCII as they are, like AWS's serializer.
    let value = serde_json::to_string(message).unwrap_or_else(|_| "\"\"".into());
    format!("{{\"{key}\":{value}}}")
}

/// Knobs of the verifier; the defaults are API Gateway's.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Remove `.`/`..` segments and empty segments from the path before encoding it (what every
    /// AWS service but S3 does; the test suite's `"normalize": true`).
    pub normalize_path: bool,
    /// Allowed clock difference either way. AWS_WIRE §2: 5 minutes for execute-api; §4: use 5
    /// for SageMaker too. Rendered in whole minutes in the messages.
    pub max_skew: Duration,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            normalize_path: true,
            max_skew: Duration::from_secs(300),
        }
    }
}

/// Verify a request signed for `service` in `region` at server time `now`.
pub fn verify<'k>(
    req: &RequestView<'_>,
    keys: &'k KeyStore,
    service: &str,
    region: &str,
    now: SystemTime,
) -> Result<&'k Principal, Rejection> {
    verify_with(req, keys, service, region, now, &VerifyOptions::default())
}

/// [`verify`] with explicit options.
pub fn verify_with<'k>(
    req: &RequestView<'_>,
    keys: &'k KeyStore,
    service: &str,
    region: &str,
    now: SystemTime,
    options: &VerifyOptions,
) -> Result<&'k Principal, Rejection> {
    let auth = parse_request_auth(req)?;

    // 2. The clock window.
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    check_skew(auth.time_secs, now_secs, options.max_skew)?;

    // 3. What the signature covers, then the scope.
    let scope = check_scope(&auth, service, region)?;

    // 4. The key, the signature, the session token.
    let Some((index, principal)) = keys.lookup_index(auth.access_key) else {
        return Err(Rejection::invalid_token());
    };
    let token = req
        .headers
        .get("x-amz-security-token")
        .map(|v| v.as_bytes());
    if principal.session_token.is_some() && token.is_none() {
        // A temporary key without its token is not a key AWS recognises at all, so this gets
        // the unknown-key answer (unverified: no capture of exactly this case).
        return Err(Rejection::invalid_token());
    }

    // The payload line is always the hash of the body received. Taking `x-amz-content-sha256`
    // at its word would let a signed request carry any body; a correct signer sends the body's
    // hash there anyway, so the canonical request is the same, and a header that lies (or says
    // UNSIGNED-PAYLOAD, which only S3 accepts) ends as a mismatch whose echo shows the real hash.
    let payload_hash = hex_sha256(req.body);
    let creq = canonical_request(
        req,
        &auth.signed_headers,
        &payload_hash,
        options.normalize_path,
    );
    let sts = string_to_sign(&auth.amz_date, scope.full, &creq);
    let key = keys
        .cache
        .get_or_derive(index, &principal.secret_key, &scope);
    let expected = hex::encode(hmac_sha256(&key, sts.as_bytes()));
    if !bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        return Err(Rejection::signature_mismatch(&creq, &sts));
    }

    let token_ok = match (&principal.session_token, token) {
        (None, None) => true,
        (Some(want), Some(got)) => bool::from(want.as_bytes().ct_eq(got)),
        // A long-term key sent with a token: AWS tries to validate the token and fails.
        (None, Some(_)) | (Some(_), None) => false,
    };
    if !token_ok {
        // Checked after the signature, with no final period: DynamoDB's front end as captured
        // by dynalite. Unverified for API Gateway.
        return Err(Rejection::forbidden(
            UNRECOGNIZED_CLIENT,
            "The security token included in the request is invalid",
        ));
    }
    Ok(principal)
}

/// The server's view of a signed request, for diagnostics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalParts {
    pub canonical_request: String,
    pub string_to_sign: String,
}

/// Parse the request's `Authorization` and date, and compute the canonical request and
/// string-to-sign the server compares against (the ones a mismatch echoes). Fails with the
/// rejection [`verify`] would give for an unparseable header.
pub fn canonical_parts(
    req: &RequestView<'_>,
    normalize_path: bool,
) -> Result<CanonicalParts, Rejection> {
    let auth = parse_request_auth(req)?;
    let scope = auth.scope()?;
    let creq = canonical_request(
        req,
        &auth.signed_headers,
        &hex_sha256(req.body),
        normalize_path,
    );
    let sts = string_to_sign(&auth.amz_date, scope.full, &creq);
    Ok(CanonicalParts {
        canonical_request: creq,
        string_to_sign: sts,
    })
}

// ---------------------------------------------------------------------------------------------
// Authorization header

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

struct RequestAuth<'r> {
    algorithm: &'r str,
    credential: &'r str,
    access_key: &'r str,
    /// Lowercase, sorted, deduplicated.
    signed_headers: Vec<String>,
    signature: &'r str,
    /// The request time in the ISO-8601 basic form (`X-Amz-Date`, or `Date` converted).
    amz_date: String,
    time_secs: i64,
}

struct Scope<'r> {
    /// `date/region/service/terminator`
    full: &'r str,
    date: &'r str,
    region: &'r str,
    service: &'r str,
    terminator: &'r str,
}

impl<'r> RequestAuth<'r> {
    /// Credential shape (trailing slashes ignored, as AWS does).
    fn scope(&self) -> Result<Scope<'r>, Rejection> {
        let parts: Vec<&str> = self.credential.trim_end_matches('/').split('/').collect();
        if parts.len() != 5 {
            // Wording captured from AWS's JSON services; the 403 follows AWS_WIRE §2's other
            // IncompleteSignature rows (unverified for this message on API Gateway).
            return Err(Rejection::forbidden(
                INCOMPLETE_SIGNATURE,
                format!(
                    "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
                    self.credential
                ),
            ));
        }
        let full = &self.credential.trim_end_matches('/')[parts[0].len() + 1..];
        Ok(Scope {
            full,
            date: parts[1],
            region: parts[2],
            service: parts[3],
            terminator: parts[4],
        })
    }
}

fn header_str<'r>(req: &'r RequestView<'_>, name: &str) -> Option<std::borrow::Cow<'r, str>> {
    req.headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
}

fn parse_request_auth<'r>(req: &'r RequestView<'_>) -> Result<RequestAuth<'r>, Rejection> {
    let Some(raw) = req.headers.get(http::header::AUTHORIZATION) else {
        return Err(Rejection::missing_token());
    };
    let Ok(raw) = raw.to_str() else {
        // Not visible ASCII: no parameter could be read from it.
        let shown = String::from_utf8_lossy(raw.as_bytes());
        return Err(incomplete_params(&shown, true, true, true, false));
    };

    // The first word is the algorithm; the rest are `key=value` tokens separated by commas
    // and/or spaces (AWS splits on both, so `a=1,b=2` and `a=1, b=2` and `a=1 b=2` all parse).
    let mut words = raw.split([',', ' ', '\t']).filter(|w| !w.is_empty());
    let algorithm = words.next().unwrap_or("");
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for token in words {
        let Some((k, v)) = token.split_once('=') else {
            return Err(Rejection::forbidden(
                INCOMPLETE_SIGNATURE,
                format!("'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{raw}'."),
            ));
        };
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let credential = credential.filter(|v| !v.is_empty());
    let signed_headers = signed_headers.filter(|v| !v.is_empty());
    let signature = signature.filter(|v| !v.is_empty());

    let amz = header_str(req, "x-amz-date");
    let date = if amz.is_none() {
        header_str(req, "date")
    } else {
        None
    };
    let (Some(credential), Some(signed_headers), Some(signature), true) = (
        credential,
        signed_headers,
        signature,
        amz.is_some() || date.is_some(),
    ) else {
        return Err(incomplete_params(
            raw,
            credential.is_none(),
            signature.is_none(),
            signed_headers.is_none(),
            amz.is_none() && date.is_none(),
        ));
    };

    let (amz_date, time_secs) = match (amz, date) {
        (Some(v), _) => match parse_amz_date(&v) {
            Some(t) => (v.into_owned(), t),
            None => return Err(bad_date(&v)),
        },
        (None, Some(v)) => match httpdate::parse_http_date(&v) {
            Ok(t) => {
                let secs = t
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                (format_amz_date(secs), secs)
            }
            Err(_) => return Err(bad_date(&v)),
        },
        (None, None) => unreachable!("checked above"),
    };

    let mut names: Vec<String> = signed_headers
        .split(';')
        .filter(|n| !n.is_empty())
        .map(|n| n.to_ascii_lowercase())
        .collect();
    names.sort_unstable();
    names.dedup();

    let access_key = credential.split('/').next().unwrap_or("");
    Ok(RequestAuth {
        algorithm,
        credential,
        access_key,
        signed_headers: names,
        signature,
        amz_date,
        time_secs,
    })
}

fn incomplete_params(
    raw: &str,
    credential: bool,
    signature: bool,
    signed: bool,
    date: bool,
) -> Rejection {
    let mut msg = String::new();
    if credential {
        msg.push_str("Authorization header requires 'Credential' parameter. ");
    }
    if signature {
        msg.push_str("Authorization header requires 'Signature' parameter. ");
    }
    if signed {
        msg.push_str("Authorization header requires 'SignedHeaders' parameter. ");
    }
    if date {
        msg.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    msg.push_str("Authorization=");
    msg.push_str(raw);
    Rejection::forbidden(INCOMPLETE_SIGNATURE, msg)
}

/// Captured from AWS's JSON services (IncompleteSignatureException); unverified on API Gateway.
fn bad_date(value: &str) -> Rejection {
    Rejection::forbidden(
        INCOMPLETE_SIGNATURE,
        format!("Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"),
    )
}

fn check_skew(request: i64, now: i64, max_skew: Duration) -> Result<(), Rejection> {
    let skew = max_skew.as_secs() as i64;
    let minutes = max_skew.as_secs() / 60;
    if request < now - skew {
        return Err(Rejection::forbidden(
            INVALID_SIGNATURE,
            format!(
                "Signature expired: {} is now earlier than {} ({} - {minutes} min.)",
                format_amz_date(request),
                format_amz_date(now - skew),
                format_amz_date(now)
            ),
        ));
    }
    if request > now + skew {
        return Err(Rejection::forbidden(
            INVALID_SIGNATURE,
            format!(
                "Signature not yet current: {} is still later than {} ({} + {minutes} min.)",
                format_amz_date(request),
                format_amz_date(now + skew),
                format_amz_date(now)
            ),
        ));
    }
    Ok(())
}

fn check_scope<'r>(
    auth: &RequestAuth<'r>,
    service: &str,
    region: &str,
) -> Result<Scope<'r>, Rejection> {
    // AWS requires `host` to be signed (the spec: "The host header must be included as a signed
    // header"); without it a request could be replayed against another endpoint.
    if !auth
        .signed_headers
        .iter()
        .any(|h| h == "host" || h == ":authority")
    {
        return Err(Rejection::forbidden(
            INVALID_SIGNATURE,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    if auth.algorithm != ALGORITHM {
        // Captured from DynamoDB's front end (trailing space included); unverified on API Gateway.
        return Err(Rejection::forbidden(
            INCOMPLETE_SIGNATURE,
            format!(
                "Unsupported AWS 'algorithm': '{}' (only AWS4-HMAC-SHA256 for now). ",
                auth.algorithm
            ),
        ));
    }
    let scope = auth.scope()?;
    // All scope problems are reported together, in this order, as AWS does.
    let mut problems: Vec<String> = Vec::new();
    if scope.region != region {
        problems.push(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            scope.region
        ));
    }
    if scope.service != service {
        problems.push(format!(
            "Credential should be scoped to correct service: '{service}'."
        ));
    }
    if scope.terminator != "aws4_request" {
        problems.push(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            scope.terminator
        ));
    }
    if scope.date != &auth.amz_date[..8.min(auth.amz_date.len())] {
        problems.push(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            scope.date,
            &auth.amz_date[..8.min(auth.amz_date.len())],
            auth.amz_date
        ));
    }
    if problems.is_empty() {
        Ok(scope)
    } else {
        Err(Rejection::forbidden(INVALID_SIGNATURE, problems.join(" ")))
    }
}

// ---------------------------------------------------------------------------------------------
// Canonical request (non-S3 rules)

/// The canonical request for `req` over `signed_headers` (lowercase names; sorted here).
///
/// - path: the raw path as received, optionally normalized (dot segments and empty segments
///   removed), then URI-encoded once more — every byte but `A-Za-z0-9-_.~` and `/` as `%XX`, so
///   a `%3D` on the wire becomes `%253D` ("double encoding", all services but S3);
/// - query: split on `&`, each key and value decoded then encoded once, sorted by key then value;
/// - headers: values trimmed, inner runs of spaces/tabs collapsed, repeats joined with `,`.
pub fn canonical_request(
    req: &RequestView<'_>,
    signed_headers: &[String],
    payload_hash: &str,
    normalize_path: bool,
) -> String {
    let mut names: Vec<&str> = signed_headers.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();

    let mut out = String::with_capacity(256 + req.path.len());
    out.push_str(req.method);
    out.push('\n');
    let path = if req.path.is_empty() { "/" } else { req.path };
    if normalize_path {
        uri_encode(&mut out, normalize(path).as_bytes(), true);
    } else {
        uri_encode(&mut out, path.as_bytes(), true);
    }
    out.push('\n');
    canonical_query(&mut out, req.query.unwrap_or(""));
    out.push('\n');
    for name in &names {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for value in req.headers.get_all(*name) {
            if !first {
                out.push(',');
            }
            first = false;
            push_trimmed(&mut out, &String::from_utf8_lossy(value.as_bytes()));
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// `AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex sha256(canonical request)>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex_sha256(canonical_request.as_bytes())
    )
}

/// The spec's key derivation: `HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut seed = Vec::with_capacity(4 + secret.len());
    seed.extend_from_slice(b"AWS4");
    seed.extend_from_slice(secret.as_bytes());
    let k = hmac_sha256(&seed, date.as_bytes());
    let k = hmac_sha256(&k, region.as_bytes());
    let k = hmac_sha256(&k, service.as_bytes());
    hmac_sha256(&k, b"aws4_request")
}

/// Lowercase hex of the SHA-256 of `data`.
pub fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn uri_encode(out: &mut String, bytes: &[u8], keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// RFC 3986 dot-segment removal plus collapsing of empty segments, always absolute; a path
/// that ended in `/`, `/.` or `/..` keeps a trailing slash.
fn normalize(path: &str) -> std::borrow::Cow<'_, str> {
    let clean = !path.contains("//")
        && path.starts_with('/')
        && path.split('/').all(|s| s != "." && s != "..");
    if clean {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing = false;
    for seg in path.split('/') {
        trailing = false;
        match seg {
            "" => trailing = true,
            "." => trailing = true,
            ".." => {
                segments.pop();
                trailing = true;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing || segments.is_empty() {
        out.push('/');
    }
    std::borrow::Cow::Owned(out)
}

fn canonical_query(out: &mut String, query: &str) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut ek = String::with_capacity(k.len());
            uri_encode(&mut ek, &query_decode(k), false);
            let mut ev = String::with_capacity(v.len());
            uri_encode(&mut ev, &query_decode(v), false);
            (ek, ev)
        })
        .collect();
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// Form decoding: `%XX` to the byte, and `+` to a space. AWS's signers never send a raw `+`
/// (they encode it as `%2B`); a `+` that reaches us came from a form-style encoder meaning a
/// space, and aws-sigv4 (the client) canonicalises it that way too. Malformed `%` escapes stay
/// literal and are re-encoded as `%25`.
fn query_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len()
                && hex_val(bytes[i + 1]).is_some()
                && hex_val(bytes[i + 2]).is_some() =>
            {
                out.push(
                    hex_val(bytes[i + 1]).unwrap_or(0) << 4 | hex_val(bytes[i + 2]).unwrap_or(0),
                );
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The spec's `Trim`: strip leading/trailing whitespace and turn inner runs into one space.
fn push_trimmed(out: &mut String, value: &str) {
    let mut pending_space = false;
    let mut started = false;
    for c in value.chars() {
        if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
            pending_space = started;
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
            started = true;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dates: `YYYYMMDDTHHMMSSZ`, UTC

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Seconds since the epoch of an `X-Amz-Date`, or `None` if it is not `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || d < 1 || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    // Reject 31 April and the like: the day must survive the round trip.
    if civil_from_days(days) != (y, mo, d) {
        return None;
    }
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

fn format_amz_date(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    let mut s = String::with_capacity(16);
    let _ = write!(
        s,
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    const HOST: &str = "abc123.execute-api.us-east-1.amazonaws.com";
    const BODY: &[u8] = br#"{"data":"5.1,3.5,1.4,0.2"}"#;
    const AMZ_DATE: &str = "20240102T030405Z";

    fn at(amz: &str) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(parse_amz_date(amz).unwrap() as u64)
    }

    fn base_headers(amz_date: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static(HOST));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("x-amz-date", HeaderValue::from_str(amz_date).unwrap());
        h
    }

    fn view<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> RequestView<'a> {
        RequestView {
            method: "POST",
            path: "/species/irispredict",
            query: None,
            headers,
            body,
        }
    }

    /// Sign with this module's own primitives (the suite test cross-checks them with aws-sigv4).
    fn sign(headers: &mut HeaderMap, body: &[u8], access: &str, secret: &str, scope: &str) {
        let names: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
        let amz = headers["x-amz-date"].to_str().unwrap().to_owned();
        let creq = canonical_request(&view(headers, body), &names, &hex_sha256(body), true);
        let sts = string_to_sign(&amz, scope, &creq);
        let parts: Vec<&str> = scope.split('/').collect();
        let key = signing_key(secret, parts[0], parts[1], parts[2]);
        let sig = hex::encode(hmac_sha256(&key, sts.as_bytes()));
        let mut sorted = names.clone();
        sorted.sort();
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={}, Signature={sig}",
            sorted.join(";")
        );
        headers.insert("authorization", HeaderValue::from_str(&auth).unwrap());
    }

    fn signed(amz_date: &str) -> HeaderMap {
        let mut h = base_headers(amz_date);
        let scope = format!("{}/us-east-1/execute-api/aws4_request", &amz_date[..8]);
        sign(&mut h, BODY, TEST_ACCESS_KEY, TEST_SECRET_KEY, &scope);
        h
    }

    fn run(headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<String, Rejection> {
        let keys = KeyStore::builtin();
        verify(&view(headers, body), &keys, "execute-api", "us-east-1", now).map(|p| p.arn.clone())
    }

    fn reject(headers: &HeaderMap, now: SystemTime) -> Rejection {
        run(headers, BODY, now).expect_err("must be rejected")
    }

    #[test]
    fn accepts_a_signed_request_and_returns_the_principal() {
        let h = signed(AMZ_DATE);
        assert_eq!(
            run(&h, BODY, at(AMZ_DATE)).unwrap(),
            "arn:aws:iam::123456789012:user/iris-local"
        );
    }

    #[test]
    fn missing_authorization() {
        let r = reject(&base_headers(AMZ_DATE), at(AMZ_DATE));
        assert_eq!(
            (r.status, r.error_type),
            (403, "MissingAuthenticationTokenException")
        );
        assert_eq!(
            r.apigw_body(),
            r#"{"message":"Missing Authentication Token"}"#
        );
    }

    #[test]
    fn incomplete_header_lists_every_missing_part() {
        let mut h = base_headers(AMZ_DATE);
        h.remove("x-amz-date");
        h.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256"),
        );
        let r = reject(&h, at(AMZ_DATE));
        assert_eq!(r.error_type, "IncompleteSignatureException");
        assert_eq!(
            r.apigw_body(),
            r#"{"message":"Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256"}"#
        );
    }

    #[test]
    fn incomplete_header_lists_only_the_missing_parts() {
        let mut h = base_headers(AMZ_DATE);
        let raw = "AWS4-HMAC-SHA256 Credential=AKIAIRISLOCALTEST001/20240102/us-east-1/execute-api/aws4_request,SignedHeaders=host";
        h.insert("authorization", HeaderValue::from_static(raw));
        let r = reject(&h, at(AMZ_DATE));
        assert_eq!(r.error_type, "IncompleteSignatureException");
        assert_eq!(
            r.message,
            format!("Authorization header requires 'Signature' parameter. Authorization={raw}")
        );
    }

    #[test]
    fn token_without_equal_sign() {
        let mut h = base_headers(AMZ_DATE);
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"),
        );
        let r = reject(&h, at(AMZ_DATE));
        assert_eq!(r.error_type, "IncompleteSignatureException");
        assert_eq!(
            r.apigw_body(),
            r#"{"message":"'eyJhbGciOiJIUzI1NiJ9.e30.x' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x'."}"#
        );
    }

    #[test]
    fn tolerant_of_spacing_in_the_header() {
        let h = signed(AMZ_DATE);
        let auth = h["authorization"].to_str().unwrap().to_owned();
        for variant in [
            auth.replace(", ", ","),
            auth.replace(", ", " , "),
            auth.replace(", ", "  "),
            format!("  {auth} "),
        ] {
            let mut h2 = h.clone();
            h2.insert("authorization", HeaderValue::from_str(&variant).unwrap());
            assert!(run(&h2, BODY, at(AMZ_DATE)).is_ok(), "{variant}");
        }
    }

    #[test]
    fn unknown_access_key() {
        let mut h = base_headers(AMZ_DATE);
        sign(
            &mut h,
            BODY,
            "AKIANOTKNOWN00000000",
            TEST_SECRET_KEY,
            "20240102/us-east-1/execute-api/aws4_request",
        );
        let r = reject(&h, at(AMZ_DATE));
        assert_eq!(r.error_type, "UnrecognizedClientException");
        assert_eq!(
            r.apigw_body(),
            r#"{"message":"The security token included in the request is invalid."}"#
        );
    }

    #[test]
    fn expired_and_not_yet_current_exact_text() {
        // The dates of AWS_WIRE's capture.
        let h = signed("20170212T175938Z");
        let r = reject(&h, at("20170215T150034Z"));
        assert_eq!(r.error_type, "InvalidSignatureException");
        assert_eq!(
            r.apigw_body(),
            r#"{"message":"Signature expired: 20170212T175938Z is now earlier than 20170215T145534Z (20170215T150034Z - 5 min.)"}"#
        );
        let r = reject(&h, at("20170212T175237Z"));
        assert_eq!(
            r.apigw_body(),
            r#"{"message":"Signature not yet current: 20170212T175938Z is still later than 20170212T175737Z (20170212T175237Z + 5 min.)"}"#
        );
        // The window's edges are inside.
        assert!(run(&h, BODY, at("20170212T180438Z")).is_ok());
        assert!(run(&h, BODY, at("20170212T175438Z")).is_ok());
        assert!(run(&h, BODY, at("20170212T180439Z")).is_err());
    }

    #[test]
    fn scope_date_region_and_service() {
        let now = at(AMZ_DATE);
        let mut h = base_headers(AMZ_DATE);
        sign(
            &mut h,
            BODY,
            TEST_ACCESS_KEY,
            TEST_SECRET_KEY,
            "20240101/us-east-1/execute-api/aws4_request",
        );
        let r = reject(&h, now);
        assert_eq!(r.error_type, "InvalidSignatureException");
        assert_eq!(
            r.apigw_body(),
            r#"{"message":"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20240101' != '20240102', from '20240102T030405Z'."}"#
        );

        let mut h = base_headers(AMZ_DATE);
        sign(
            &mut h,
            BODY,
            TEST_ACCESS_KEY,
            TEST_SECRET_KEY,
            "20240102/eu-west-1/execute-api/aws4_request",
        );
        assert_eq!(
            reject(&h, now).apigw_body(),
            r#"{"message":"Credential should be scoped to a valid region, not 'eu-west-1'."}"#
        );

        let mut h = base_headers(AMZ_DATE);
        sign(
            &mut h,
            BODY,
            TEST_ACCESS_KEY,
            TEST_SECRET_KEY,
            "20240102/us-east-1/sagemaker/aws4_request",
        );
        let r = reject(&h, now);
        assert_eq!(r.error_type, "InvalidSignatureException");
        assert_eq!(
            r.apigw_body(),
            r#"{"message":"Credential should be scoped to correct service: 'execute-api'."}"#
        );

        // Several problems are reported together, region first.
        let mut h = base_headers(AMZ_DATE);
        sign(
            &mut h,
            BODY,
            TEST_ACCESS_KEY,
            TEST_SECRET_KEY,
            "20240102/eu-west-1/sagemaker/aws4_request",
        );
        assert_eq!(
            reject(&h, now).message,
            "Credential should be scoped to a valid region, not 'eu-west-1'. Credential should be scoped to correct service: 'execute-api'."
        );
    }

    #[test]
    fn signature_mismatch_echoes_canonical_request_and_string_to_sign() {
        let mut h = signed(AMZ_DATE);
        let bad = h["authorization"]
            .to_str()
            .unwrap()
            .replace("Signature=", "Signature=0");
        h.insert("authorization", HeaderValue::from_str(&bad).unwrap());
        let r = reject(&h, at(AMZ_DATE));
        assert_eq!(r.error_type, "InvalidSignatureException");
        let body_hash = hex::encode(Sha256::digest(BODY));
        let creq = format!(
            "POST\n/species/irispredict\n\ncontent-type:application/json\nhost:{HOST}\nx-amz-date:{AMZ_DATE}\n\ncontent-type;host;x-amz-date\n{body_hash}"
        );
        let creq_hash = hex::encode(Sha256::digest(creq.as_bytes()));
        let expected = format!(
            concat!(
                r#"{{"message":"The request signature we calculated does not match the signature you provided. "#,
                r#"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."#,
                r#"\n\nThe Canonical String for this request should have been\n'POST\n/species/irispredict\n\n"#,
                r#"content-type:application/json\nhost:{host}\nx-amz-date:{date}\n\ncontent-type;host;x-amz-date\n{bh}'"#,
                r#"\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n{date}\n20240102/us-east-1/execute-api/aws4_request\n{ch}'\n"}}"#
            ),
            host = HOST,
            date = AMZ_DATE,
            bh = body_hash,
            ch = creq_hash
        );
        assert_eq!(r.apigw_body(), expected);
        assert!(r.message.starts_with(SIGNATURE_MISMATCH_PREFIX));
    }

    #[test]
    fn tampering_after_signing_is_a_mismatch() {
        let now = at(AMZ_DATE);
        let h = signed(AMZ_DATE);
        let r = run(&h, br#"{"data":"5.1,3.5,1.4,0.3"}"#, now).unwrap_err();
        assert!(r.message.starts_with(SIGNATURE_MISMATCH_PREFIX));
        let mut h2 = h.clone();
        h2.insert("content-type", HeaderValue::from_static("text/csv"));
        assert!(reject(&h2, now)
            .message
            .starts_with(SIGNATURE_MISMATCH_PREFIX));
        // Unsigned headers may change freely.
        let mut h3 = h.clone();
        h3.insert("user-agent", HeaderValue::from_static("curl/8"));
        assert!(run(&h3, BODY, now).is_ok());
        // A body-hash header does not stand in for the body.
        let mut h4 = base_headers(AMZ_DATE);
        h4.insert(
            "x-amz-content-sha256",
            HeaderValue::from_str(&hex_sha256(BODY)).unwrap(),
        );
        sign(
            &mut h4,
            BODY,
            TEST_ACCESS_KEY,
            TEST_SECRET_KEY,
            "20240102/us-east-1/execute-api/aws4_request",
        );
        assert!(run(&h4, BODY, now).is_ok());
        let r = run(&h4, b"{}", now).unwrap_err();
        assert!(r.message.starts_with(SIGNATURE_MISMATCH_PREFIX));
    }

    #[test]
    fn host_must_be_signed() {
        let mut h = signed(AMZ_DATE);
        let auth = h["authorization"].to_str().unwrap().replace(";host;", ";");
        h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        let r = reject(&h, at(AMZ_DATE));
        assert_eq!(r.error_type, "InvalidSignatureException");
        assert_eq!(
            r.message,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        );
    }

    #[test]
    fn malformed_credential_algorithm_and_date() {
        let now = at(AMZ_DATE);
        let mut h = signed(AMZ_DATE);
        let auth = h["authorization"]
            .to_str()
            .unwrap()
            .replace("/aws4_request", "");
        h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        let r = reject(&h, now);
        assert_eq!(r.error_type, "IncompleteSignatureException");
        assert_eq!(
            r.message,
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIAIRISLOCALTEST001/20240102/us-east-1/execute-api'"
        );

        let mut h = signed(AMZ_DATE);
        let auth = h["authorization"]
            .to_str()
            .unwrap()
            .replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512");
        h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        assert_eq!(
            reject(&h, now).message,
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now). "
        );

        let mut h = signed(AMZ_DATE);
        h.insert(
            "x-amz-date",
            HeaderValue::from_static("2024-01-02T03:04:05Z"),
        );
        let r = reject(&h, now);
        assert_eq!(r.error_type, "IncompleteSignatureException");
        assert_eq!(
            r.message,
            "Date must be in ISO-8601 'basic format'. Got '2024-01-02T03:04:05Z'. See http://en.wikipedia.org/wiki/ISO_8601"
        );
    }

    #[test]
    fn date_header_is_accepted_instead_of_x_amz_date() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static(HOST));
        h.insert(
            "date",
            HeaderValue::from_static("Tue, 02 Jan 2024 03:04:05 GMT"),
        );
        // sign() reads x-amz-date for the string-to-sign: sign with it, then drop it.
        let names = vec!["date".to_owned(), "host".to_owned()];
        let creq = canonical_request(&view(&h, BODY), &names, &hex_sha256(BODY), true);
        let sts = string_to_sign(
            AMZ_DATE,
            "20240102/us-east-1/execute-api/aws4_request",
            &creq,
        );
        let key = signing_key(TEST_SECRET_KEY, "20240102", "us-east-1", "execute-api");
        let sig = hex::encode(hmac_sha256(&key, sts.as_bytes()));
        let auth = format!("AWS4-HMAC-SHA256 Credential={TEST_ACCESS_KEY}/20240102/us-east-1/execute-api/aws4_request, SignedHeaders=date;host, Signature={sig}");
        h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        assert!(run(&h, BODY, at(AMZ_DATE)).is_ok());
        let r = reject(&h, at("20240102T031000Z"));
        assert!(
            r.message
                .starts_with("Signature expired: 20240102T030405Z is now earlier than"),
            "{}",
            r.message
        );
    }

    #[test]
    fn temporary_keys_need_their_session_token() {
        let now = at(AMZ_DATE);
        let scope = "20240102/us-east-1/execute-api/aws4_request";
        let mut h = base_headers(AMZ_DATE);
        h.insert(
            "x-amz-security-token",
            HeaderValue::from_static(TEST_SESSION_TOKEN),
        );
        sign(
            &mut h,
            BODY,
            TEST_TEMP_ACCESS_KEY,
            TEST_TEMP_SECRET_KEY,
            scope,
        );
        assert_eq!(
            run(&h, BODY, now).unwrap(),
            "arn:aws:sts::123456789012:assumed-role/iris-local/session"
        );

        // Without it: as an unknown key.
        let mut h = base_headers(AMZ_DATE);
        sign(
            &mut h,
            BODY,
            TEST_TEMP_ACCESS_KEY,
            TEST_TEMP_SECRET_KEY,
            scope,
        );
        let r = reject(&h, now);
        assert_eq!(r.error_type, "UnrecognizedClientException");
        assert_eq!(
            r.message,
            "The security token included in the request is invalid."
        );

        // With a wrong one (signed or not): rejected after the signature check.
        let mut h = base_headers(AMZ_DATE);
        h.insert(
            "x-amz-security-token",
            HeaderValue::from_static("not-the-token"),
        );
        sign(
            &mut h,
            BODY,
            TEST_TEMP_ACCESS_KEY,
            TEST_TEMP_SECRET_KEY,
            scope,
        );
        let r = reject(&h, now);
        assert_eq!(r.error_type, "UnrecognizedClientException");
        assert_eq!(
            r.apigw_body(),
            r#"{"message":"The security token included in the request is invalid"}"#
        );

        // A long-term key sent with a token.
        let mut h = base_headers(AMZ_DATE);
        h.insert(
            "x-amz-security-token",
            HeaderValue::from_static(TEST_SESSION_TOKEN),
        );
        sign(&mut h, BODY, TEST_ACCESS_KEY, TEST_SECRET_KEY, scope);
        assert_eq!(reject(&h, now).error_type, "UnrecognizedClientException");
    }

    #[test]
    fn access_denied_uses_capital_message() {
        let r = Rejection::access_denied(
            "arn:aws:iam::123456789012:user/x",
            Action::ExecuteApiInvoke,
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/species/irispredict",
        );
        assert_eq!((r.status, r.error_type), (403, "AccessDeniedException"));
        assert_eq!(
            r.apigw_body(),
            r#"{"Message":"User: arn:aws:iam::123456789012:user/x is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/species/irispredict"}"#
        );
    }

    #[test]
    fn bodies_escape_json() {
        let r = Rejection::forbidden(INVALID_SIGNATURE, "a\n'b' \"c\" \\ /");
        assert_eq!(r.apigw_body(), r#"{"message":"a\n'b' \"c\" \\ /"}"#);
        assert_eq!(r.sagemaker_body(), r#"{"message":"a\n'b' \"c\" \\ /"}"#);
    }

    #[test]
    fn sagemaker_scope() {
        let mut h = base_headers(AMZ_DATE);
        sign(
            &mut h,
            BODY,
            TEST_ACCESS_KEY,
            TEST_SECRET_KEY,
            "20240102/us-east-1/execute-api/aws4_request",
        );
        let keys = KeyStore::builtin();
        let r = verify(
            &view(&h, BODY),
            &keys,
            "sagemaker",
            "us-east-1",
            at(AMZ_DATE),
        )
        .unwrap_err();
        assert_eq!(
            r.sagemaker_body(),
            r#"{"message":"Credential should be scoped to correct service: 'sagemaker'."}"#
        );
    }

    #[test]
    fn canonical_path_query_and_headers() {
        let mut h = HeaderMap::new();
        h.append("x-b", HeaderValue::from_static("  two   words "));
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static(" 2"));
        h.insert("host", HeaderValue::from_static("h:8443"));
        let req = RequestView {
            method: "GET",
            path: "/a%3Db/./c//d/../e@f",
            query: Some("b=2&a=%3D&a=1&c&d=&e=x+y&f=%zz"),
            headers: &h,
            body: b"",
        };
        let names: Vec<String> = ["x-b", "host", "x-a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let creq = canonical_request(&req, &names, "UNSIGNED", true);
        assert_eq!(
            creq,
            "GET\n/a%253Db/c/e%40f\na=%3D&a=1&b=2&c=&d=&e=x%20y&f=%25zz\nhost:h:8443\nx-a:1,2\nx-b:two words\n\nhost;x-a;x-b\nUNSIGNED"
        );
        let creq = canonical_request(&req, &names, "UNSIGNED", false);
        assert!(
            creq.starts_with("GET\n/a%253Db/./c//d/../e%40f\n"),
            "{creq}"
        );
    }

    #[test]
    fn normalization() {
        for (input, want) in [
            ("/", "/"),
            ("", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/a/b/../..", "/"),
            ("//example//", "/example/"),
            ("/./example", "/example"),
            ("/foo/bar/.", "/foo/bar/"),
            ("/foo/bar/..", "/foo/"),
            ("/../foo", "/foo"),
            ("/foo%2F.%2Fbar", "/foo%2F.%2Fbar"),
            ("/species/irispredict", "/species/irispredict"),
        ] {
            assert_eq!(normalize(input), want, "{input}");
        }
    }

    #[test]
    fn amz_dates_round_trip() {
        for s in [
            "19700101T000000Z",
            "20150830T123600Z",
            "20000229T235959Z",
            "20991231T000001Z",
        ] {
            assert_eq!(format_amz_date(parse_amz_date(s).unwrap()), s);
        }
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        for bad in [
            "20150230T000000Z",
            "20151301T000000Z",
            "20150830T243600Z",
            "20150830 123600Z",
            "2015083T123600Z",
            "",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn signing_key_matches_the_spec_example() {
        // "Examples of how to derive a signing key": secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
        // 20120215 / us-east-1 / iam.
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn cached_signing_keys_are_per_principal_and_scope() {
        let keys = KeyStore::builtin();
        let h1 = signed(AMZ_DATE);
        let h2 = signed("20240103T030405Z");
        for _ in 0..3 {
            assert!(run_with(&keys, &h1, at(AMZ_DATE)).is_ok());
            assert!(run_with(&keys, &h2, at("20240103T030405Z")).is_ok());
        }
        assert_eq!(format!("{:?}", keys.cache), "SigningKeyCache(2 keys)");
        // A second principal with the same scope does not get the first one's key.
        let mut h = base_headers(AMZ_DATE);
        h.insert(
            "x-amz-security-token",
            HeaderValue::from_static(TEST_SESSION_TOKEN),
        );
        sign(
            &mut h,
            BODY,
            TEST_TEMP_ACCESS_KEY,
            TEST_SECRET_KEY,
            "20240102/us-east-1/execute-api/aws4_request",
        );
        let r = run_with(&keys, &h, at(AMZ_DATE)).unwrap_err();
        assert!(r.message.starts_with(SIGNATURE_MISMATCH_PREFIX));
    }

    fn run_with(keys: &KeyStore, h: &HeaderMap, now: SystemTime) -> Result<(), Rejection> {
        verify(&view(h, BODY), keys, "execute-api", "us-east-1", now).map(|_| ())
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let keys = KeyStore::builtin();
        assert!(run_with(&keys, &signed(AMZ_DATE), at(AMZ_DATE)).is_ok());
        let shown = format!("{keys:?}");
        assert!(
            !shown.contains(TEST_SECRET_KEY) && !shown.contains(TEST_SESSION_TOKEN),
            "{shown}"
        );
        assert!(shown.contains(TEST_ACCESS_KEY));
    }

    #[test]
    fn key_file_loads_and_reports_problems() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        std::fs::write(
            &path,
            r#"{"keys":[
                {"access_key":"AKIAONE","secret_key":"s1","session_token":null,
                 "arn":"arn:aws:iam::123456789012:user/one","actions":["execute-api:Invoke"]},
                {"access_key":"ASIATWO","secret_key":"s2","session_token":"tok",
                 "arn":"arn:aws:sts::123456789012:assumed-role/r/s","actions":[]}
            ]}"#,
        )
        .unwrap();
        let keys = KeyStore::from_file(&path).unwrap();
        let one = keys.lookup("AKIAONE").unwrap();
        assert!(one.may(Action::ExecuteApiInvoke) && !one.may(Action::SageMakerInvokeEndpoint));
        assert_eq!(
            keys.lookup("ASIATWO").unwrap().session_token.as_deref(),
            Some("tok")
        );

        let err = |text: &str| {
            std::fs::write(&path, text).unwrap();
            format!("{:#}", KeyStore::from_file(&path).unwrap_err())
        };
        let e = err(
            r#"{"keys":[{"access_key":"A","secret_key":"s","arn":"arn:x","actions":["s3:GetObject"]}]}"#,
        );
        assert!(
            e.contains(&path.display().to_string())
                && e.contains("keys[0]")
                && e.contains("s3:GetObject"),
            "{e}"
        );
        let e = err("{\"keys\":[\n{\"access_key\":\"A\",}]}");
        assert!(e.contains("line 2 column"), "{e}");
        let e = err(r#"{"keys":[]}"#);
        assert!(e.contains("empty"), "{e}");
        let e = err(
            r#"{"keys":[{"access_key":"A","secret_key":"hunter2","arn":"arn:x","actions":[]},{"access_key":"A","secret_key":"s","arn":"arn:x","actions":[]}]}"#,
        );
        assert!(e.contains("appears twice") && !e.contains("hunter2"), "{e}");
        let e = err(
            r#"{"keys":[{"access_key":"A","secret_key":"s","arn":"arn:x","actions":[],"extra":1}]}"#,
        );
        assert!(e.contains("extra"), "{e}");
        let missing = dir.path().join("nope.json");
        let e = format!("{:#}", KeyStore::from_file(&missing).unwrap_err());
        assert!(e.contains("nope.json") && e.contains("cannot read"), "{e}");
    }

    #[test]
    fn actions_parse() {
        assert_eq!(
            "execute-api:Invoke".parse::<Action>(),
            Ok(Action::ExecuteApiInvoke)
        );
        assert_eq!(
            "sagemaker:invokeendpoint".parse::<Action>(),
            Ok(Action::SageMakerInvokeEndpoint)
        );
        assert!("execute-api:*".parse::<Action>().is_err());
        assert_eq!(
            Action::for_service("sagemaker"),
            Some(Action::SageMakerInvokeEndpoint)
        );
    }
}
