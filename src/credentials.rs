//! Where signing credentials come from: explicit flags first, then the AWS standard chain from
//! aws-config (environment, shared config/credentials files with assume-role,
//! credential_process and SSO, web identity, ECS, instance metadata).

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;

use crate::error::{CliError, Exit};

/// Credentials given on the command line (already validated by clap: the access key comes with
/// a secret).
#[derive(Clone, Default)]
pub struct ExplicitKeys {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for ExplicitKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExplicitKeys")
            .field("access_key", &self.access_key)
            .field("secret_key", &crate::redact::REDACTED)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| crate::redact::REDACTED),
            )
            .finish()
    }
}

/// How to find credentials.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    Explicit(ExplicitKeys),
    /// The AWS default chain, optionally with a named profile. `region` is where STS and SSO
    /// are called for assume-role, web identity and SSO profiles when neither the environment
    /// nor the profile names one.
    Chain {
        profile: Option<String>,
        region: String,
    },
}

/// Resolved credentials and a human description of where they came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub credentials: Credentials,
    pub origin: String,
    /// The provider to ask again when temporary credentials near expiry.
    pub provider: Option<SharedCredentialsProvider>,
}

/// The sources the default chain tries, in order, for the "no credentials" error.
pub const CHAIN_SOURCES: &str = "--access-key/--secret-key flags; environment variables \
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); the shared config and credentials \
files (~/.aws/config, ~/.aws/credentials: static keys, role_arn/source_profile, \
credential_process, SSO); web identity token (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN); \
ECS container credentials; EC2 instance metadata (IMDS)";

pub async fn resolve(source: &CredentialSource) -> Result<Resolved, CliError> {
    match source {
        CredentialSource::Explicit(keys) => Ok(Resolved {
            credentials: Credentials::new(
                &keys.access_key,
                &keys.secret_key,
                keys.session_token.clone(),
                None,
                "command-line flags",
            ),
            origin: "command-line flags".to_string(),
            provider: None,
        }),
        CredentialSource::Chain { profile, region } => {
            // Giving the region up front matters: left to itself the chain looks it up through
            // its own region chain, which ends at the instance-metadata service and makes every
            // run off EC2 wait on it, even with credentials in the environment.
            let region = match region_from_env_or_profile(profile.as_deref()).await {
                Some(r) => r,
                None => region.clone(),
            };
            let mut builder =
                DefaultCredentialsChain::builder().region(aws_config::Region::new(region));
            if let Some(p) = profile {
                builder = builder.profile_name(p);
            }
            let chain = SharedCredentialsProvider::new(builder.build().await);
            match chain.provide_credentials().await {
                Ok(credentials) => {
                    let origin = describe_provider(&credentials, profile.as_deref());
                    Ok(Resolved {
                        credentials,
                        origin,
                        provider: Some(chain),
                    })
                }
                Err(err) => Err(no_credentials(&err, profile.as_deref())),
            }
        }
    }
}

fn describe_provider(creds: &Credentials, profile: Option<&str>) -> String {
    let debug = format!("{creds:?}");
    // Debug shows `provider_name: "..."`, never the secret; keep just the provider's name.
    let provider = debug
        .split("provider_name: \"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("AWS default chain");
    match profile {
        Some(p) => format!("{provider} (profile {p})"),
        None => provider.to_string(),
    }
}

fn no_credentials(
    err: &aws_credential_types::provider::error::CredentialsError,
    profile: Option<&str>,
) -> CliError {
    let mut detail = String::new();
    let mut cause: Option<&dyn std::error::Error> = Some(err);
    while let Some(c) = cause {
        let text = c.to_string();
        if !detail.contains(&text) {
            if !detail.is_empty() {
                detail.push_str(": ");
            }
            detail.push_str(&text);
        }
        cause = c.source();
    }
    let profile_note = profile
        .map(|p| format!(" (profile '{p}')"))
        .unwrap_or_default();
    CliError::new(
        Exit::Auth,
        format!("no AWS credentials found{profile_note}; tried: {CHAIN_SOURCES}"),
    )
    .hint(format!("the last provider said: {detail}"))
    .hint("set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run `aws configure` or `aws sso login`, or use --local for the built-in emulator")
}

/// The region from the AWS region chain (environment, then profile), without asking the
/// instance-metadata service.
pub async fn region_from_env_or_profile(profile: Option<&str>) -> Option<String> {
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Ok(r) = std::env::var(var) {
            if !r.is_empty() {
                return Some(r);
            }
        }
    }
    let mut builder = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(p) = profile {
        builder = builder.profile_name(p);
    }
    use aws_config::meta::region::ProvideRegion;
    builder.build().region().await.map(|r| r.to_string())
}
