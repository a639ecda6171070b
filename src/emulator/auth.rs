//! Server-side SigV4 verification, written from the specification independently of the
//! client's signer (aws-sigv4), so that the two check each other.
//! STUB: interface only, replaced by the verifier work.

use std::time::SystemTime;

/// An IAM action a key may be allowed to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `execute-api:Invoke`
    ExecuteApiInvoke,
    /// `sagemaker:InvokeEndpoint`
    SageMakerInvokeEndpoint,
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
pub const TEST_SECRET_KEY: &str = "irisLocalTestSecretKey0000000000000000001";
/// Built-in temporary credentials (they need the session token).
pub const TEST_TEMP_ACCESS_KEY: &str = "ASIAIRISLOCALTEST002";
pub const TEST_TEMP_SECRET_KEY: &str = "irisLocalTestSecretKey0000000000000000002";
pub const TEST_SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEIrisLocalTestSessionToken//////////0002";

#[derive(Debug, Clone, Default)]
pub struct KeyStore {
    principals: Vec<Principal>,
}

impl KeyStore {
    /// The built-in test keys (see the constants above).
    pub fn builtin() -> Self {
        let all = vec![Action::ExecuteApiInvoke, Action::SageMakerInvokeEndpoint];
        KeyStore {
            principals: vec![
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
            ],
        }
    }

    pub fn from_principals(principals: Vec<Principal>) -> Self {
        KeyStore { principals }
    }

    /// Load `--credentials FILE`.
    pub fn from_file(_path: &std::path::Path) -> anyhow::Result<Self> {
        anyhow::bail!("not implemented")
    }

    pub fn lookup(&self, access_key: &str) -> Option<&Principal> {
        self.principals.iter().find(|p| p.access_key == access_key)
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

/// Verify a request signed for `service` in `region` at server time `now`.
pub fn verify<'k>(
    _req: &RequestView<'_>,
    keys: &'k KeyStore,
    _service: &str,
    _region: &str,
    _now: SystemTime,
) -> Result<&'k Principal, Rejection> {
    keys.principals().first().ok_or(Rejection {
        status: 403,
        error_type: "MissingAuthenticationTokenException",
        message: "Missing Authentication Token".into(),
    })
}
