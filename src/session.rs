//! Everything a command needs to send signed requests: the resolved target, the credentials
//! and, with `--local`, the embedded emulator kept alive for the command's lifetime.

use std::io::BufRead;
use std::time::Duration;

use crate::client::Signer;
use crate::config::{self, TargetSpec};
use crate::credentials::{self, CredentialSource, ExplicitKeys};
use crate::emulator::{auth as emu_auth, Emulator, EmulatorConfig};
use crate::error::CliError;

/// Test-only: seconds added to the signing clock (negative: behind), to exercise skew
/// correction. Not documented for users.
pub const TEST_CLOCK_SKEW_ENV: &str = "IRIS_CLI_TEST_CLOCK_SKEW_SECS";

/// Where requests go (from `--url`, `--endpoint-name`, `--local`...; the `IRIS_*`
/// environment fills what they leave open).
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    pub url: Option<String>,
    pub endpoint_name: Option<String>,
    pub endpoint_url: Option<String>,
    pub local: bool,
    pub region: Option<String>,
    pub service: Option<String>,
    /// `--api`: the kind of API `--url` (or `--local`'s API) is.
    pub api: Option<crate::config::ApiKind>,
}

/// Which credentials sign: explicit keys, or the AWS chain (with a profile).
#[derive(Clone, Default)]
pub struct AuthOptions {
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub secret_key_stdin: bool,
    pub session_token: Option<String>,
    pub profile: Option<String>,
    /// Longest wait for the AWS chain (None: [`credentials::DEFAULT_TIMEOUT`]).
    pub credentials_timeout: Option<Duration>,
}

/// Secrets stay out of debug output.
impl std::fmt::Debug for AuthOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("AuthOptions")
            .field("access_key", &self.access_key)
            .field("secret_key", &hidden(&self.secret_key))
            .field("secret_key_stdin", &self.secret_key_stdin)
            .field("session_token", &hidden(&self.session_token))
            .field("profile", &self.profile)
            .field("credentials_timeout", &self.credentials_timeout)
            .finish()
    }
}

pub struct Session {
    pub signer: Signer,
    pub credentials_origin: String,
    /// Dropped last: stops the embedded emulator.
    _emulator: Option<Emulator>,
}

impl Session {
    /// The target is the embedded emulator (`--local`), which stops with this process.
    pub fn is_local(&self) -> bool {
        self._emulator.is_some()
    }
}

fn explicit_keys(auth: &AuthOptions) -> Result<Option<ExplicitKeys>, CliError> {
    let Some(access_key) = &auth.access_key else {
        return Ok(None);
    };
    let secret_key = match (&auth.secret_key, auth.secret_key_stdin) {
        (Some(s), _) => s.clone(),
        (None, true) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map_err(|e| {
                CliError::usage(format!(
                    "--secret-key-stdin: cannot read standard input: {e}"
                ))
            })?;
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if line.is_empty() {
                return Err(CliError::usage(
                    "--secret-key-stdin: standard input was empty",
                ));
            }
            line
        }
        (None, false) => {
            return Err(CliError::usage(
                "--access-key needs --secret-key or --secret-key-stdin",
            ))
        }
    };
    Ok(Some(ExplicitKeys {
        access_key: access_key.clone(),
        secret_key,
        session_token: auth.session_token.clone(),
    }))
}

fn test_skew() -> (Duration, bool) {
    match std::env::var(TEST_CLOCK_SKEW_ENV)
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    {
        Some(s) => (Duration::from_secs(s.unsigned_abs()), s >= 0),
        None => (Duration::ZERO, true),
    }
}

/// The target from the flags, with the `IRIS_*` environment filling what no flag chose. The
/// variables are read here rather than by clap so that exporting all of them (as `serve`
/// prints them) never conflicts with a flag: a flag wins, and with none `IRIS_URL` (the API)
/// is preferred over `IRIS_ENDPOINT_NAME`.
pub fn target_spec(target: &TargetOptions, env: impl Fn(&str) -> Option<String>) -> TargetSpec {
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    let mut spec = TargetSpec {
        url: target.url.clone(),
        endpoint_name: target.endpoint_name.clone(),
        endpoint_url: target.endpoint_url.clone(),
        region: target.region.clone(),
        service: target.service.clone(),
        fallback_region: None,
        api: target.api,
    };
    if target.local {
        return spec;
    }
    if spec.url.is_none() && spec.endpoint_name.is_none() {
        // `serve` exports one URL per kind of API; --api picks its own.
        spec.url = target
            .api
            .and_then(|api| env(api.kind().protocol().serve_export().0))
            .or_else(|| env("IRIS_URL"));
        if spec.url.is_none() {
            spec.endpoint_name = env("IRIS_ENDPOINT_NAME");
        }
    }
    if spec.endpoint_name.is_some() && spec.endpoint_url.is_none() {
        spec.endpoint_url = env("IRIS_ENDPOINT_URL");
    }
    spec
}

/// What must outlive the requests of a session whose signer moved out (the embedded
/// emulator, with `--local`).
pub struct KeepAlive {
    _emulator: Option<Emulator>,
}

impl Session {
    /// The signer, and what has to stay alive while it is used.
    pub fn split(self) -> (Signer, KeepAlive) {
        (
            self.signer,
            KeepAlive {
                _emulator: self._emulator,
            },
        )
    }

    pub async fn open(target: &TargetOptions, auth: &AuthOptions) -> anyhow::Result<Session> {
        let explicit = explicit_keys(auth)?;
        let mut emulator = None;
        let mut spec = target_spec(target, |k| std::env::var(k).ok());
        if target.local {
            let emu = Emulator::start(EmulatorConfig::default()).await?;
            if spec.endpoint_name.is_some() {
                spec.endpoint_url = Some(emu.endpoint_url());
            } else {
                spec.url = Some(match spec.api {
                    Some(crate::config::ApiKind::Http) => emu.http_api_url(),
                    Some(crate::config::ApiKind::FunctionUrl) => emu.function_url(),
                    _ => emu.invoke_url(),
                });
            }
            spec.region.get_or_insert_with(|| emu.region().to_string());
            emulator = Some(emu);
        } else if spec.region.is_none() {
            spec.fallback_region =
                credentials::region_from_env_or_profile(auth.profile.as_deref()).await;
        }
        let target = config::resolve_target(&spec)?;
        let source = match explicit {
            Some(keys) => CredentialSource::Explicit(keys),
            None if target_is_local(&emulator) => CredentialSource::Explicit(ExplicitKeys {
                access_key: emu_auth::TEST_ACCESS_KEY.into(),
                secret_key: emu_auth::TEST_SECRET_KEY.into(),
                session_token: None,
            }),
            None => CredentialSource::Chain {
                profile: auth.profile.clone(),
                region: target.scope.region.clone(),
                timeout: auth
                    .credentials_timeout
                    .unwrap_or(credentials::DEFAULT_TIMEOUT),
            },
        };
        let resolved = credentials::resolve(&source).await?;
        let origin = if target_is_local(&emulator) && auth.access_key.is_none() {
            "the local emulator's built-in test key".to_string()
        } else {
            resolved.origin
        };
        let (skew, ahead) = test_skew();
        Ok(Session {
            signer: Signer::new(resolved.credentials, resolved.provider, target, skew, ahead),
            credentials_origin: origin,
            _emulator: emulator,
        })
    }
}

impl Session {
    /// With `--local`: the embedded emulator's main URL (SageMaker runtime, CloudWatch).
    pub fn emulator_endpoint_url(&self) -> Option<String> {
        self._emulator.as_ref().map(Emulator::endpoint_url)
    }
}

fn target_is_local(emulator: &Option<Emulator>) -> bool {
    emulator.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn spec(args: &[&str], vars: &[(&str, &str)]) -> TargetSpec {
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            t: crate::cli::TargetArgs,
        }
        let t = T::parse_from(std::iter::once("x").chain(args.iter().copied()))
            .t
            .options();
        target_spec(&t, |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn flags_win_over_the_environment() {
        let all = [
            ("IRIS_URL", "http://u/p"),
            ("IRIS_ENDPOINT_NAME", "ep"),
            ("IRIS_ENDPOINT_URL", "http://e"),
        ];
        let s = spec(&[], &all);
        assert_eq!(
            (s.url.as_deref(), s.endpoint_name),
            (Some("http://u/p"), None)
        );
        let s = spec(&["--endpoint-name", "mine"], &all);
        assert_eq!(s.url, None);
        assert_eq!(s.endpoint_name.as_deref(), Some("mine"));
        assert_eq!(s.endpoint_url.as_deref(), Some("http://e"));
        let s = spec(&["--url", "http://flag/p"], &all);
        assert_eq!(s.url.as_deref(), Some("http://flag/p"));
        assert_eq!(s.endpoint_name, None);
        let s = spec(&["--local"], &all);
        assert_eq!((s.url, s.endpoint_name), (None, None));
        let s = spec(&[], &all[1..]);
        assert_eq!(s.endpoint_name.as_deref(), Some("ep"));
    }
}
