//! Validated, resolved settings: which URL to call and how to sign for it.

use url::Url;

use crate::error::CliError;
use crate::sign::Scope;

/// What kind of endpoint a request goes to; decides the body and how responses are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// An API Gateway REST API invoke URL (JSON `{"data": ...}` body).
    ApiGateway,
    /// An API Gateway HTTP API invoke URL (the same body, its own error answers).
    HttpApi,
    /// A Lambda function URL (the same body, signed for `lambda`).
    FunctionUrl,
    /// SageMaker runtime InvokeEndpoint (`text/csv` body).
    SageMaker,
}

/// `--api`: which kind of API a `--url` is, when its host does not tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKind {
    /// API Gateway REST API (`/{stage}/{resource}`).
    Rest,
    /// API Gateway HTTP API.
    Http,
    /// Lambda function URL (signing service `lambda`).
    FunctionUrl,
}

impl ApiKind {
    pub fn kind(self) -> TargetKind {
        match self {
            ApiKind::Rest => TargetKind::ApiGateway,
            ApiKind::Http => TargetKind::HttpApi,
            ApiKind::FunctionUrl => TargetKind::FunctionUrl,
        }
    }
}

impl TargetKind {
    /// The wire protocol of this kind (the registry of `crate::protocol`).
    pub fn protocol(self) -> &'static dyn crate::protocol::Protocol {
        match self {
            TargetKind::ApiGateway => &crate::protocol::apigw::ApiGateway,
            TargetKind::HttpApi => &crate::protocol::http_api::HttpApi,
            TargetKind::FunctionUrl => &crate::protocol::function_url::FunctionUrl,
            TargetKind::SageMaker => &crate::protocol::sagemaker::SageMaker,
        }
    }

    /// An API (any of the three kinds), not the SageMaker endpoint.
    pub fn is_api(self) -> bool {
        self != TargetKind::SageMaker
    }

    /// The request Content-Type each endpoint expects.
    pub fn default_content_type(self) -> &'static str {
        self.protocol().default_content_type()
    }
}

/// A resolved request target.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: TargetKind,
    pub url: Url,
    pub scope: Scope,
}

/// Infer `(service, region)` from an AWS hostname: `*.execute-api.{region}.amazonaws.com`,
/// `runtime.sagemaker.{region}.amazonaws.com`, their FIPS, China and VPC-endpoint forms, and
/// function URLs `<url-id>.lambda-url.{region}.on.aws`.
pub fn infer_scope(host: &str) -> Option<(&'static str, String)> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = host.strip_suffix(".on.aws") {
        let labels: Vec<&str> = rest.split('.').collect();
        return match labels.as_slice() {
            [_, "lambda-url", region] if looks_like_region(region) => {
                Some(("lambda", region.to_string()))
            }
            _ => None,
        };
    }
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let rest = rest.strip_suffix(".vpce").unwrap_or(rest);
    let labels: Vec<&str> = rest.split('.').collect();
    let region = *labels.last()?;
    if !looks_like_region(region) || labels.len() < 2 {
        return None;
    }
    match labels[labels.len() - 2] {
        "execute-api" if labels.len() >= 3 => Some(("execute-api", region.to_string())),
        "sagemaker"
            if labels.len() >= 3
                && matches!(labels[labels.len() - 3], "runtime" | "runtime-fips") =>
        {
            Some(("sagemaker", region.to_string()))
        }
        _ => None,
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, ...
pub fn looks_like_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// SageMaker endpoint names: 1-63 characters, `^[a-zA-Z0-9](-*[a-zA-Z0-9])*`.
pub fn validate_endpoint_name(name: &str) -> Result<(), CliError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "invalid --endpoint-name '{name}': 1-63 letters, digits and hyphens, starting and ending with a letter or digit"
        )))
    }
}

fn parse_url(flag: &str, raw: &str) -> Result<Url, CliError> {
    let url =
        Url::parse(raw).map_err(|e| CliError::usage(format!("invalid {flag} '{raw}': {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CliError::usage(format!(
            "invalid {flag}: a user name or password in the URL is not how AWS authenticates (requests are signed with SigV4); remove the 'user:pass@' part"
        )));
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(CliError::usage(format!(
            "invalid {flag} '{raw}': expected an http(s) URL with a host"
        )));
    }
    Ok(url)
}

/// Inputs to resolution, already free of clap types.
#[derive(Debug, Default, Clone)]
pub struct TargetSpec {
    pub url: Option<String>,
    pub endpoint_name: Option<String>,
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub service: Option<String>,
    /// Region from the environment or the profile, used where the host names none.
    pub fallback_region: Option<String>,
    /// `--api`: the kind of API `url` is (otherwise inferred from it).
    pub api: Option<ApiKind>,
}

/// The kind of API a URL addresses: a function URL by its host; an execute-api host with a
/// single path segment is an HTTP API's `$default` stage (a REST API's path always starts with
/// its stage); anything else a REST API unless `--api` says otherwise.
pub fn infer_api_kind(url: &Url) -> TargetKind {
    let host = url.host_str().unwrap_or_default();
    match infer_scope(host) {
        Some(("lambda", _)) => TargetKind::FunctionUrl,
        Some(("execute-api", _))
            if url
                .path_segments()
                .is_some_and(|s| s.filter(|p| !p.is_empty()).count() == 1) =>
        {
            TargetKind::HttpApi
        }
        _ => TargetKind::ApiGateway,
    }
}

/// Resolve the URL to call and the signing scope.
pub fn resolve_target(spec: &TargetSpec) -> Result<Target, CliError> {
    let (kind, url) = match (&spec.url, &spec.endpoint_name) {
        (Some(raw), None) => {
            let url = parse_url("--url", raw)?;
            let kind = spec
                .api
                .map(ApiKind::kind)
                .unwrap_or_else(|| infer_api_kind(&url));
            (kind, url)
        }
        (None, Some(_)) if spec.api.is_some() => {
            return Err(CliError::usage(
                "--api is for --url (an API); --endpoint-name calls SageMaker directly",
            ))
        }
        (None, Some(name)) => {
            validate_endpoint_name(name)?;
            let base = match &spec.endpoint_url {
                Some(raw) => parse_url("--endpoint-url", raw)?,
                None => {
                    let region = spec
                        .region
                        .clone()
                        .or_else(|| spec.fallback_region.clone())
                        .ok_or_else(|| {
                            CliError::usage("no region for the SageMaker endpoint").hint(
                                "pass --region, set AWS_REGION, or set region in your AWS profile",
                            )
                        })?;
                    parse_url(
                        "--endpoint-url",
                        &format!("https://runtime.sagemaker.{region}.amazonaws.com"),
                    )?
                }
            };
            let base_path = base.path().trim_end_matches('/');
            let mut url = base.clone();
            url.set_path(&format!("{base_path}/endpoints/{name}/invocations"));
            (TargetKind::SageMaker, url)
        }
        (Some(_), Some(_)) => {
            return Err(CliError::usage(
                "give either --url (API Gateway) or --endpoint-name (SageMaker), not both",
            ))
        }
        (None, None) => return Err(CliError::usage(
            "no target: give --url, --endpoint-name or --local",
        )
        .hint(
            "try `iris-cli predict --local --data 5.1,3.5,1.4,0.2` to use the built-in emulator",
        )),
    };
    let host = url.host_str().unwrap_or_default();
    let inferred = infer_scope(host);
    let default_service = kind.protocol().service();
    let service = spec
        .service
        .clone()
        .or_else(|| inferred.as_ref().map(|(s, _)| s.to_string()))
        .unwrap_or_else(|| default_service.to_string());
    let region = match (&spec.region, inferred) {
        (Some(r), _) => r.clone(),
        (None, Some((_, r))) => r,
        (None, None) => spec.fallback_region.clone().ok_or_else(|| {
            CliError::usage(format!(
                "cannot infer the signing region from host '{host}' (not an execute-api or runtime.sagemaker hostname)"
            ))
            .hint("pass --region (for example --region us-east-1) or set AWS_REGION")
        })?,
    };
    if region.is_empty() || service.is_empty() {
        return Err(CliError::usage("--region and --service must not be empty"));
    }
    Ok(Target {
        kind,
        url,
        scope: Scope { region, service },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_from_aws_hosts() {
        let cases = [
            (
                "abc123.execute-api.us-east-1.amazonaws.com",
                Some(("execute-api", "us-east-1")),
            ),
            (
                "abc123-vpce-0123.execute-api.eu-west-1.amazonaws.com",
                Some(("execute-api", "eu-west-1")),
            ),
            (
                "vpce-0abc-xyz.execute-api.ap-south-1.vpce.amazonaws.com",
                Some(("execute-api", "ap-south-1")),
            ),
            (
                "runtime.sagemaker.us-west-2.amazonaws.com",
                Some(("sagemaker", "us-west-2")),
            ),
            (
                "runtime-fips.sagemaker.us-gov-west-1.amazonaws.com",
                Some(("sagemaker", "us-gov-west-1")),
            ),
            (
                "vpce-0abc-def.runtime.sagemaker.eu-central-1.vpce.amazonaws.com",
                Some(("sagemaker", "eu-central-1")),
            ),
            (
                "abc.execute-api.cn-north-1.amazonaws.com.cn",
                Some(("execute-api", "cn-north-1")),
            ),
            ("api.example.com", None),
            ("127.0.0.1", None),
            ("sagemaker.us-east-1.amazonaws.com", None),
            ("execute-api.us-east-1.amazonaws.com", None),
        ];
        for (host, want) in cases {
            let got = infer_scope(host);
            assert_eq!(got.as_ref().map(|(s, r)| (*s, r.as_str())), want, "{host}");
        }
    }

    #[test]
    fn api_kind_from_url_or_flag() {
        let resolve = |url: &str, api: Option<ApiKind>| {
            resolve_target(&TargetSpec {
                url: Some(url.into()),
                api,
                region: Some("us-east-1".into()),
                ..Default::default()
            })
            .unwrap()
        };
        let t = resolve(
            "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/",
            None,
        );
        assert_eq!(
            (t.kind, t.scope.service.as_str()),
            (TargetKind::FunctionUrl, "lambda")
        );
        let t = resolve(
            "https://abc123.execute-api.us-east-1.amazonaws.com/irispredict",
            None,
        );
        assert_eq!(t.kind, TargetKind::HttpApi);
        assert_eq!(t.scope.service, "execute-api");
        let t = resolve(
            "https://abc123.execute-api.us-east-1.amazonaws.com/species/irispredict",
            None,
        );
        assert_eq!(t.kind, TargetKind::ApiGateway);
        // A local or custom host says nothing: REST unless --api.
        let t = resolve("http://127.0.0.1:9000/", Some(ApiKind::FunctionUrl));
        assert_eq!(
            (t.kind, t.scope.service.as_str()),
            (TargetKind::FunctionUrl, "lambda")
        );
        let t = resolve("http://127.0.0.1:9000/irispredict", None);
        assert_eq!(t.kind, TargetKind::ApiGateway);
        let t = resolve("http://127.0.0.1:9000/irispredict", Some(ApiKind::Http));
        assert_eq!(t.kind, TargetKind::HttpApi);
        assert_eq!(
            infer_scope("x.lambda-url.ap-south-1.on.aws"),
            Some(("lambda", "ap-south-1".into()))
        );
        assert_eq!(infer_scope("lambda-url.us-east-1.on.aws"), None);
    }

    #[test]
    fn custom_domain_needs_region() {
        let spec = TargetSpec {
            url: Some("https://api.example.com/prod/irispredict".into()),
            ..Default::default()
        };
        let err = resolve_target(&spec).unwrap_err();
        assert!(err.message.contains("api.example.com"), "{}", err.message);
        let spec = TargetSpec {
            region: Some("eu-west-1".into()),
            ..spec
        };
        let t = resolve_target(&spec).unwrap();
        assert_eq!(t.scope.region, "eu-west-1");
        assert_eq!(t.scope.service, "execute-api");
    }

    #[test]
    fn sagemaker_url_built_from_region() {
        let spec = TargetSpec {
            endpoint_name: Some("iris-xgb".into()),
            fallback_region: Some("eu-west-2".into()),
            ..Default::default()
        };
        let t = resolve_target(&spec).unwrap();
        assert_eq!(
            t.url.as_str(),
            "https://runtime.sagemaker.eu-west-2.amazonaws.com/endpoints/iris-xgb/invocations"
        );
        assert_eq!(t.scope.service, "sagemaker");
        assert_eq!(t.kind, TargetKind::SageMaker);
        let spec = TargetSpec {
            endpoint_name: Some("iris-xgb".into()),
            endpoint_url: Some("http://127.0.0.1:9000/".into()),
            region: Some("us-east-1".into()),
            ..Default::default()
        };
        let t = resolve_target(&spec).unwrap();
        assert_eq!(
            t.url.as_str(),
            "http://127.0.0.1:9000/endpoints/iris-xgb/invocations"
        );
        assert!(validate_endpoint_name("-bad").is_err());
        assert!(validate_endpoint_name("a_b").is_err());
        assert!(validate_endpoint_name(&"a".repeat(64)).is_err());
        assert!(validate_endpoint_name("iris-xgb-2").is_ok());
    }
}
