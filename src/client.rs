//! One signed HTTP exchange: build the client, sign with the (skew-corrected) clock, send
//! exactly the signed headers, and decode what came back.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::Target;
use crate::error::{CliError, Exit};
use crate::protocol::Detail;
use crate::sign::{self, Signed, Unsigned};

/// `--http1.1` / `--http2` (as curl's); by default the version is negotiated (ALPN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    #[default]
    Negotiate,
    Http1,
    Http2,
}

/// Connection settings, free of clap types.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub ca_bundle: Option<PathBuf>,
    pub insecure: bool,
    pub http_version: HttpVersion,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            ca_bundle: None,
            insecure: false,
            http_version: HttpVersion::Negotiate,
        }
    }
}

/// A reqwest client with rustls for requests to `url`; proxies come from HTTP(S)_PROXY /
/// NO_PROXY as usual, except for loopback. A plain-http target skips loading the platform's
/// CA roots (nothing would use them).
pub fn http_client(s: &HttpSettings, url: &url::Url) -> anyhow::Result<reqwest::Client> {
    let https = url.scheme() == "https";
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(https)
        .timeout(s.timeout)
        .connect_timeout(s.connect_timeout)
        .user_agent(concat!("iris-cli/", env!("CARGO_PKG_VERSION")))
        // A redirect would carry the signed headers (the session token among them) and, on
        // 307/308, the body to another origin: never follow one; the 3xx is reported.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &s.ca_bundle {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read --ca-bundle {}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
            format!(
                "--ca-bundle {}: not a PEM certificate bundle",
                path.display()
            )
        })?;
        if certs.is_empty() {
            anyhow::bail!("--ca-bundle {}: no certificates found", path.display());
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if s.insecure {
        crate::warn!("--insecure: TLS certificates are not verified");
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder = match s.http_version {
        HttpVersion::Negotiate => builder,
        HttpVersion::Http1 => builder.http1_only(),
        HttpVersion::Http2 => builder.http2_prior_knowledge(),
    };
    if is_loopback(url) {
        // The local emulator or a test server: never through a proxy.
        builder = builder.no_proxy();
    }
    builder.build().context("cannot build the HTTP client")
}

/// Refresh temporary credentials this long before they expire, as the AWS SDKs do.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Signs with cached credentials, refreshed before they expire, and a clock that can be
/// corrected for skew (from a server's `Date` header).
pub struct Signer {
    credentials: RwLock<Credentials>,
    /// Where to get fresh credentials; `None` for static ones (flags, the emulator's key).
    provider: Option<SharedCredentialsProvider>,
    refreshing: tokio::sync::Mutex<()>,
    pub target: Target,
    /// Milliseconds added to the local clock when signing.
    offset_ms: AtomicI64,
    /// Bumped whenever the credentials or the clock offset change, so that callers caching
    /// signatures know theirs are stale.
    generation: AtomicU64,
}

impl Signer {
    pub fn new(
        credentials: Credentials,
        provider: Option<SharedCredentialsProvider>,
        target: Target,
        initial_offset: Duration,
        ahead: bool,
    ) -> Self {
        let ms = i64::try_from(initial_offset.as_millis()).unwrap_or(i64::MAX);
        Signer {
            credentials: RwLock::new(credentials),
            provider,
            refreshing: tokio::sync::Mutex::new(()),
            target,
            offset_ms: AtomicI64::new(if ahead { ms } else { -ms }),
            generation: AtomicU64::new(0),
        }
    }

    /// Changes whenever a signature made now could differ from one made earlier in the same
    /// second (new credentials, corrected clock).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The credentials in use now.
    pub fn credentials(&self) -> Credentials {
        self.credentials
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn needs_refresh(&self) -> bool {
        let expiry = self
            .credentials
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .expiry();
        expiry.is_some_and(|e| e <= SystemTime::now() + REFRESH_MARGIN)
    }

    /// Refresh temporary credentials that expire within `REFRESH_MARGIN`. Cheap when they do
    /// not: call it before signing in long-running loops. While the old credentials are still
    /// valid a failed refresh is only a warning.
    pub async fn ensure_fresh(&self) -> Result<(), CliError> {
        let Some(provider) = &self.provider else {
            return Ok(());
        };
        if !self.needs_refresh() {
            return Ok(());
        }
        let _guard = self.refreshing.lock().await;
        if !self.needs_refresh() {
            return Ok(());
        }
        match provider.provide_credentials().await {
            Ok(fresh) => {
                *self
                    .credentials
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
                self.generation.fetch_add(1, Ordering::AcqRel);
                Ok(())
            }
            Err(err) => {
                let still_valid = self
                    .credentials()
                    .expiry()
                    .is_some_and(|e| e > SystemTime::now());
                if still_valid {
                    eprintln!("iris-cli: warning: cannot refresh credentials yet ({err}); using the current ones until they expire");
                    Ok(())
                } else {
                    Err(CliError::new(
                        Exit::Auth,
                        format!(
                            "the temporary credentials expired and could not be refreshed: {err}"
                        ),
                    ))
                }
            }
        }
    }

    /// The signing time: now, corrected by the known skew.
    pub fn now(&self) -> SystemTime {
        shift(SystemTime::now(), self.offset_ms.load(Ordering::Relaxed))
    }

    pub fn sign(&self, headers: &[(String, String)], body: &[u8]) -> Result<Signed, CliError> {
        let req = self.unsigned(headers, body);
        let credentials = self
            .credentials
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sign::sign(&req, &credentials, &self.target.scope, self.now())
            .map_err(|e| CliError::new(Exit::Failure, e.to_string()))
    }

    pub fn unsigned<'a>(&'a self, headers: &'a [(String, String)], body: &'a [u8]) -> Unsigned<'a> {
        Unsigned {
            method: "POST",
            url: &self.target.url,
            headers,
            body,
        }
    }

    /// Correct the clock after an answer that said the signature's time was off, from its
    /// `Date` (bounded, from the midpoint of send and receive: `protocol::skew_from_date`).
    /// Returns the change in seconds (positive: the server is ahead of us).
    pub fn correct_skew(
        &self,
        headers: &HeaderMap,
        sent: SystemTime,
        received: SystemTime,
    ) -> Option<i64> {
        let skew_ms = crate::protocol::skew_from_date(headers, sent, received)?;
        let before = self.offset_ms.swap(skew_ms, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Some((skew_ms - before) / 1000)
    }

    /// Milliseconds added to the local clock when signing.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }
}

/// 127.0.0.0/8, ::1 or localhost.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn shift(t: SystemTime, ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        t + d
    } else {
        t - d
    }
}

/// A response, whatever its status.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub latency: Duration,
    /// Wall-clock instants of the send and of the whole answer (for skew correction).
    pub sent_at: SystemTime,
    pub received_at: SystemTime,
}

/// Send a signed POST with exactly the signed headers.
pub async fn send(
    client: &reqwest::Client,
    target: &Target,
    signed: &Signed,
    body: Bytes,
) -> Result<Exchange, NoAnswer> {
    let usage = |error| NoAnswer {
        error,
        detail: Detail::OtherClient,
    };
    let mut headers = HeaderMap::with_capacity(signed.headers.len());
    for (name, value) in &signed.headers {
        // Signed, but written by the HTTP layer from the same URL: `Host` on HTTP/1.1,
        // `:authority` on HTTP/2 (a second host header is a 400 there).
        if name.eq_ignore_ascii_case("host") {
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| usage(CliError::usage(format!("invalid header name '{name}'"))))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            usage(CliError::usage(format!(
                "invalid value for header '{name}'"
            )))
        })?;
        headers.append(name, value);
    }
    let sent_at = SystemTime::now();
    let started = Instant::now();
    let response = client
        .post(target.url.clone())
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|e| network_error(&e, target))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| network_error(&e, target))?;
    Ok(Exchange {
        status,
        headers,
        body,
        latency: started.elapsed(),
        sent_at,
        received_at: SystemTime::now(),
    })
}

/// One classified answer: the exchange, what it means, and the signature it carried.
pub struct Answer {
    pub exchange: Exchange,
    pub detail: Detail,
    pub signed: Signed,
}

/// An attempt that got no answer: the error to show and what it means.
pub struct NoAnswer {
    pub error: CliError,
    pub detail: Detail,
}

/// Sign, send and classify one request with the target's protocol. An answer that says the
/// signature's time was off corrects the clock (bounded) and is re-signed and sent once more;
/// `observe` sees every exchange (`-v`).
pub async fn call(
    client: &reqwest::Client,
    signer: &Signer,
    headers: &[(String, String)],
    body: &Bytes,
    observe: &mut (dyn FnMut(&Signed, &Exchange) + Send),
) -> Result<Answer, NoAnswer> {
    let protocol = signer.target.kind.protocol();
    let mut corrected = false;
    loop {
        let signed = signer.sign(headers, body).map_err(|error| NoAnswer {
            error,
            detail: Detail::OtherClient,
        })?;
        let exchange = send(client, &signer.target, &signed, body.clone()).await?;
        observe(&signed, &exchange);
        let detail =
            crate::protocol::classify(protocol, exchange.status, &exchange.headers, &exchange.body);
        if detail == Detail::ClockSkew && !corrected {
            if let Some(skew) =
                signer.correct_skew(&exchange.headers, exchange.sent_at, exchange.received_at)
            {
                crate::warn!(
                    "the local clock is {} s {} the server's (from its Date header); re-signed with the server's time and retried",
                    skew.abs(),
                    if skew > 0 { "behind" } else { "ahead of" }
                );
                corrected = true;
                continue;
            }
        }
        return Ok(Answer {
            exchange,
            detail,
            signed,
        });
    }
}

/// A transport failure as a one-line error with the network exit code.
pub fn network_error(err: &reqwest::Error, target: &Target) -> NoAnswer {
    NoAnswer {
        error: network_cli_error(err, target),
        detail: crate::protocol::classify_transport(err.is_timeout()),
    }
}

fn network_cli_error(err: &reqwest::Error, target: &Target) -> CliError {
    use std::error::Error as _;
    let mut root = String::new();
    let mut cause = err.source();
    while let Some(c) = cause {
        root = c.to_string();
        cause = c.source();
    }
    let what = if err.is_timeout() {
        "timed out".to_string()
    } else if err.is_connect() {
        format!("connection failed: {root}")
    } else {
        format!(
            "request failed: {}",
            if root.is_empty() {
                err.to_string()
            } else {
                root.clone()
            }
        )
    };
    let host = target.url.host_str().unwrap_or_default();
    let mut e = CliError::new(Exit::Network, format!("{} {what}", target.url));
    if err.is_timeout() {
        e = e.hint("raise --timeout, or check that the endpoint is up (a Lambda cold start can take seconds)");
    } else if let Some(tls) = crate::tls::hint(&root).filter(|_| target.url.scheme() == "https") {
        e = e.hint(tls);
    } else if err.is_connect() {
        e = e.hint(format!(
            "check that {host} is reachable (DNS, VPN, proxy settings HTTPS_PROXY/NO_PROXY)"
        ));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TargetKind;
    use crate::sign::Scope;
    use aws_credential_types::provider::future;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// Hands out credentials that expire `lifetime` from now, counting calls.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        lifetime: Duration,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("ASIA{n}"),
                "secret",
                Some("token".into()),
                Some(SystemTime::now() + self.lifetime),
                "counting",
            )))
        }
    }

    fn signer(first_expiry: Duration, lifetime: Duration) -> (Signer, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let provider = SharedCredentialsProvider::new(Counting {
            calls: calls.clone(),
            lifetime,
        });
        let creds = Credentials::new(
            "ASIAFIRST",
            "secret",
            Some("token".into()),
            Some(SystemTime::now() + first_expiry),
            "test",
        );
        let target = Target {
            kind: TargetKind::ApiGateway,
            url: url::Url::parse("http://127.0.0.1:1/p").unwrap(),
            scope: Scope {
                region: "us-east-1".into(),
                service: "execute-api".into(),
            },
        };
        let s = Signer::new(creds, Some(provider), target, Duration::ZERO, true);
        (s, calls)
    }

    #[tokio::test]
    async fn refreshes_only_near_expiry() {
        let (s, calls) = signer(Duration::from_secs(3600), Duration::from_secs(3600));
        s.ensure_fresh().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(s.credentials().access_key_id(), "ASIAFIRST");

        let (s, calls) = signer(Duration::from_secs(60), Duration::from_secs(3600));
        s.ensure_fresh().await.unwrap();
        s.ensure_fresh().await.unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "refreshed once, then cached"
        );
        assert_eq!(s.credentials().access_key_id(), "ASIA0");
        let signed = s.sign(&[], b"x").unwrap();
        assert!(signed
            .header("authorization")
            .unwrap()
            .contains("Credential=ASIA0/"));
    }
}
