//! TLS for the connections iris-cli opens itself (the bench engine): rustls with the ring
//! provider and the platform's roots, as reqwest's client uses, plus `--ca-bundle`, or no
//! verification with `--insecure`. Built only for `https://` targets.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::client::{HttpSettings, HttpVersion};

/// The certificates of a PEM bundle, naming the file in errors.
pub fn read_pem_bundle(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject as _;
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read --ca-bundle {}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            anyhow::anyhow!(
                "--ca-bundle {}: not a PEM certificate bundle: {e}",
                path.display()
            )
        })?;
    if certs.is_empty() {
        anyhow::bail!("--ca-bundle {}: no certificates found", path.display());
    }
    Ok(certs)
}

/// ALPN protocols to offer for a `--http1.1` / `--http2` choice.
pub fn alpn(version: HttpVersion) -> Vec<Vec<u8>> {
    match version {
        HttpVersion::Negotiate => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
    }
}

/// A client configuration for `settings`.
pub fn client_config(settings: &HttpSettings) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS configuration")?;
    let mut config = if settings.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = &settings.ca_bundle {
            for cert in read_pem_bundle(path)? {
                roots.add(cert).with_context(|| {
                    format!(
                        "--ca-bundle {}: a certificate rustls cannot use",
                        path.display()
                    )
                })?;
            }
        }
        if roots.is_empty() {
            anyhow::bail!(
                "no trusted CA certificates: the system has none and no --ca-bundle was given"
            );
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = alpn(settings.http_version);
    Ok(Arc::new(config))
}

/// `--insecure`: accept any certificate (signatures are still checked for the handshake).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A hint for a TLS failure, from the text of its root cause.
pub fn hint(root_cause: &str) -> Option<String> {
    let r = root_cause;
    if r.contains("UnknownIssuer") || r.contains("unknown issuer") {
        Some("the server's certificate is signed by a CA this machine does not trust: give that CA with --ca-bundle FILE (or IRIS_CA_BUNDLE / AWS_CA_BUNDLE)".into())
    } else if r.contains("CaUsedAsEndEntity") {
        Some("the server presents a CA certificate as its own: it must serve a leaf certificate issued by that CA (pass the CA with --ca-bundle)".into())
    } else if r.contains("NotValidForName") || r.contains("not valid for name") {
        Some(format!(
            "the certificate is for other names than the URL's host ({}): use a URL with one of its names",
            r.split("valid for").nth(2).map_or("see above", str::trim)
        ))
    } else if r.contains("Expired") || r.contains("expired") || r.contains("NotValidYet") {
        Some("the certificate is outside its validity dates (see above): renew it, or check this machine's clock".into())
    } else if r.contains("certificate") || r.contains("TLS") || r.contains("tls") {
        Some("a TLS problem: check the certificate chain with `openssl s_client -connect HOST:443`; --insecure skips verification (for tests only)".into())
    } else {
        None
    }
}

/// A certificate authority made at start-up and a server certificate it issued, for
/// `serve --tls` and the tests: clients trust `ca_pem` (`--ca-bundle`, `AWS_CA_BUNDLE`).
pub struct LocalCa {
    pub ca_pem: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: rustls::pki_types::PrivateKeyDer<'static>,
}

/// A fresh CA and a leaf for `names` (host names or IP addresses).
pub fn local_ca(names: &[&str]) -> anyhow::Result<LocalCa> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "iris-cli serve local CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().context("generating the server key")?;
    let mut leaf = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("localhost"),
    );
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    Ok(LocalCa {
        ca_pem: ca_cert.pem(),
        chain: vec![leaf_cert.der().clone(), ca_cert.der().clone()],
        key: rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    })
}

/// A server configuration offering HTTP/2 and HTTP/1.1 by ALPN.
pub fn server_config(ca: &LocalCa) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(ca.chain.clone(), ca.key.clone_key())
        .context("the server certificate")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
