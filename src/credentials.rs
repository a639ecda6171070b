//! Where signing credentials come from: explicit flags first, then the AWS standard chain from
//! aws-config (environment, shared config/credentials files with assume-role,
//! credential_process and SSO, web identity, ECS, instance metadata).

use std::time::{Duration, SystemTime};

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
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
        /// Longest wait for one answer from the chain (a `credential_process` that hangs, an
        /// SSO or STS call): `--credentials-timeout`.
        timeout: Duration,
    },
}

/// `--credentials-timeout`'s default: long enough for a credential_process that asks for an
/// MFA code, short of forever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A provider that answers within `timeout` and never hands out credentials that have
/// already expired (aws-config passes on a `credential_process`'s past `Expiration` as is).
/// Wraps the chain for the first resolution and every refresh.
#[derive(Debug)]
struct Bounded {
    inner: SharedCredentialsProvider,
    timeout: Duration,
}

/// Credentials whose expiry is already past.
#[derive(Debug)]
struct Expired {
    provider: String,
    expiry: SystemTime,
}

impl std::fmt::Display for Expired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ago = SystemTime::now()
            .duration_since(self.expiry)
            .unwrap_or_default()
            .as_secs();
        write!(
            f,
            "the credentials from {} expired at {} ({ago} s ago)",
            self.provider,
            httpdate::fmt_http_date(self.expiry)
        )
    }
}

impl std::error::Error for Expired {}

impl ProvideCredentials for Bounded {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let creds =
                match tokio::time::timeout(self.timeout, self.inner.provide_credentials()).await {
                    Ok(r) => r?,
                    Err(_) => return Err(CredentialsError::provider_timed_out(self.timeout)),
                };
            match creds.expiry() {
                Some(expiry) if expiry <= SystemTime::now() => {
                    Err(CredentialsError::provider_error(Expired {
                        provider: provider_name(&creds).to_string(),
                        expiry,
                    }))
                }
                _ => Ok(creds),
            }
        })
    }
}

/// Refuse a shared config or credentials file that does not parse, naming the file and line
/// (the chain would skip it and report "no credentials" instead, as if it were not there).
async fn check_profile_files(profile: Option<&str>) -> Result<(), CliError> {
    let fs = aws_types::os_shim_internal::Fs::real();
    let env = aws_types::os_shim_internal::Env::real();
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let selected = profile.map(|p| std::borrow::Cow::Owned(p.to_string()));
    let Err(err) = aws_config::profile::load(&fs, &env, &files, selected).await else {
        return Ok(());
    };
    let parse = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<aws_config::profile::ProfileParseError>());
    match parse {
        Some(e) => {
            // aws-config says "error parsing FILE on line N:\n  MESSAGE".
            let text = e.to_string().replace("\n  ", " ").replace('\n', " ");
            Err(CliError::usage(format!("the AWS shared config is malformed: {text}"))
                .hint("fix that line, or point AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE at other files"))
        }
        // A missing or unreadable file is the chain's to report, as before.
        None => Ok(()),
    }
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
        CredentialSource::Chain {
            profile,
            region,
            timeout,
        } => {
            // The chain's first source, taken without building the rest of it (its profile,
            // SSO, web-identity, container and IMDS providers cost milliseconds to set up):
            // the same credentials the chain would return, as static ones.
            if profile.is_none() {
                if let Some(resolved) = from_environment() {
                    return Ok(resolved);
                }
            }
            check_profile_files(profile.as_deref()).await?;
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
            let chain = SharedCredentialsProvider::new(Bounded {
                inner: SharedCredentialsProvider::new(builder.build().await),
                timeout: *timeout,
            });
            match chain.provide_credentials().await {
                Ok(credentials) => {
                    let origin = describe_provider(&credentials, profile.as_deref());
                    Ok(Resolved {
                        credentials,
                        origin,
                        provider: Some(chain),
                    })
                }
                Err(err) => Err(chain_failed(&err, profile.as_deref(), *timeout)),
            }
        }
    }
}

/// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), as the chain's
/// environment provider reads them.
fn from_environment() -> Option<Resolved> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let (key, secret) = (var("AWS_ACCESS_KEY_ID")?, var("AWS_SECRET_ACCESS_KEY")?);
    let origin = "Environment".to_string();
    Some(Resolved {
        credentials: Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "Environment"),
        origin,
        provider: None,
    })
}

/// The name of the provider that gave `creds` (Debug shows `provider_name: "..."`, never
/// the secret).
fn provider_name(creds: &Credentials) -> String {
    let debug = format!("{creds:?}");
    debug
        .split("provider_name: \"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("AWS default chain")
        .to_string()
}

fn describe_provider(creds: &Credentials, profile: Option<&str>) -> String {
    let provider = provider_name(creds);
    match profile {
        Some(p) => format!("{provider} (profile {p})"),
        None => provider.to_string(),
    }
}

/// The chain found nothing, took too long, or found expired credentials.
fn chain_failed(err: &CredentialsError, profile: Option<&str>, timeout: Duration) -> CliError {
    let profile_note = profile
        .map(|p| format!(" (profile '{p}')"))
        .unwrap_or_default();
    if let CredentialsError::ProviderTimedOut(_) = err {
        return CliError::new(
            Exit::Auth,
            format!(
                "no AWS credentials within {} s{profile_note}: a credential source did not answer (a credential_process that hangs, or an SSO/STS call)",
                timeout.as_secs_f64()
            ),
        )
        .hint("check the profile's credential_process by running it by hand, or allow more time with --credentials-timeout");
    }
    let mut cause: Option<&dyn std::error::Error> = Some(err);
    while let Some(c) = cause {
        if let Some(e) = c.downcast_ref::<Expired>() {
            return CliError::new(Exit::Auth, format!("{e}{profile_note}"))
                .hint("refresh them (for example `aws sso login`, or fix what the credential_process returns)");
        }
        cause = c.source();
    }
    no_credentials(err, profile)
}

fn no_credentials(err: &CredentialsError, profile: Option<&str>) -> CliError {
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
