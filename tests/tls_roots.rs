//! The roots compiled into the binary (certs/amazon-trust-services.pem, `TLS_TRUST_STORE=amazon`,
//! the default) accept the certificate chains real AWS endpoints present, and nothing else.
//!
//! The chains are recordings (tests/fixtures/tls/README.md): each is verified at a time inside
//! its leaf's validity, with rustls' WebPKI verifier and the aws-lc provider, the verifier the
//! SDK's HTTPS client uses, over a root store built from the PEM the way the SDK builds it
//! (aws-smithy-http-client's `TlsContext::rustls_root_certs`: each certificate a trust anchor).

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, RootCertStore};
use session_revoker::lambda::AMAZON_TRUST_SERVICES_ROOTS;
use std::sync::Arc;
use std::time::Duration;

const S3_CHAIN: &[u8] = include_bytes!("fixtures/tls/s3.amazonaws.com.chain.pem");
const AWS_AMAZON_COM_CHAIN: &[u8] = include_bytes!("fixtures/tls/aws.amazon.com.chain.pem");
const LETSENCRYPT_CHAIN: &[u8] = include_bytes!("fixtures/tls/letsencrypt.org.chain.pem");

/// 2026-09-15T11:19:15Z: when the s3.amazonaws.com chain was captured.
const S3_CAPTURED: u64 = 1_789_471_155;
/// 2025-08-13T19:31:53Z: inside the aws.amazon.com and letsencrypt.org leaves' validity.
const AUG_2025: u64 = 1_755_113_506;

/// The SHA-256 fingerprints Amazon Trust Services publishes for its roots
/// (https://www.amazontrust.com/repository/), in the order of the PEM file.
const PUBLISHED: [(&str, &str); 5] = [
    (
        "Amazon Root CA 1",
        "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
    ),
    (
        "Amazon Root CA 2",
        "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
    ),
    (
        "Amazon Root CA 3",
        "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
    ),
    (
        "Amazon Root CA 4",
        "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
    ),
    (
        "Starfield Services Root Certificate Authority - G2",
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5",
    ),
];

fn certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .expect("valid PEM")
}

/// A root store of these certificates, as the SDK builds one from a `TrustStore`'s PEM.
fn store(roots: &[CertificateDer<'static>]) -> RootCertStore {
    let mut store = RootCertStore::empty();
    for root in roots {
        store
            .add(root.clone())
            .expect("a parsable root certificate");
    }
    store
}

fn compiled() -> RootCertStore {
    store(&certificates(AMAZON_TRUST_SERVICES_ROOTS))
}

fn verify(
    roots: RootCertStore,
    chain: &[CertificateDer<'static>],
    host: &str,
    at: u64,
) -> Result<(), rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .expect("a verifier over a non-empty store");
    verifier
        .verify_server_cert(
            &chain[0],
            &chain[1..],
            &ServerName::try_from(host.to_string()).expect("a DNS name"),
            &[],
            UnixTime::since_unix_epoch(Duration::from_secs(at)),
        )
        .map(|_| ())
}

fn sha256_hex(der: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn the_compiled_roots_are_exactly_the_five_published_amazon_trust_services_roots() {
    let roots = certificates(AMAZON_TRUST_SERVICES_ROOTS);
    let fingerprints: Vec<String> = roots.iter().map(|r| sha256_hex(r)).collect();
    let published: Vec<String> = PUBLISHED.iter().map(|(_, f)| f.to_string()).collect();
    assert_eq!(
        fingerprints,
        published,
        "roots: {:?}",
        PUBLISHED.map(|(n, _)| n)
    );
    // Every one becomes a trust anchor (the SDK panics on a root it cannot parse).
    assert_eq!(compiled().len(), PUBLISHED.len());
}

#[test]
fn the_s3_api_endpoint_chain_verifies_for_its_names() {
    let chain = certificates(S3_CHAIN);
    assert_eq!(
        chain.len(),
        3,
        "leaf, Amazon RSA 2048 M04, Amazon Root CA 1 (cross-signed)"
    );
    for host in [
        "s3.amazonaws.com",
        "s3.us-east-1.amazonaws.com",
        "examplebucket.s3.amazonaws.com",
    ] {
        verify(compiled(), &chain, host, S3_CAPTURED).unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    // The name is checked too: the same chain is not valid for another endpoint.
    let err = verify(compiled(), &chain, "iam.amazonaws.com", S3_CAPTURED).unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{err:?}"
    );
}

#[test]
fn the_s3_chain_verifies_from_either_amazon_root_ca_1_or_its_starfield_cross_signer() {
    let chain = certificates(S3_CHAIN);
    let roots = certificates(AMAZON_TRUST_SERVICES_ROOTS);
    // Leaf and intermediate alone reach Amazon Root CA 1.
    verify(
        store(&roots[..1]),
        &chain[..2],
        "s3.amazonaws.com",
        S3_CAPTURED,
    )
    .expect("Amazon Root CA 1 anchors the chain");
    // A client that knows only Starfield Services Root CA G2 follows the cross-signed Amazon
    // Root CA 1 the endpoint sends: why that root is in the store too.
    verify(store(&roots[4..]), &chain, "s3.amazonaws.com", S3_CAPTURED)
        .expect("Starfield Services Root CA G2 anchors the cross-signed chain");
}

#[test]
fn the_aws_amazon_com_chain_verifies() {
    let chain = certificates(AWS_AMAZON_COM_CHAIN);
    assert_eq!(
        chain.len(),
        4,
        "leaf, Amazon RSA 2048 M01, Amazon Root CA 1, Starfield G2"
    );
    verify(compiled(), &chain, "aws.amazon.com", AUG_2025).expect("aws.amazon.com");
}

#[test]
fn a_chain_from_another_certificate_authority_is_refused() {
    let chain = certificates(LETSENCRYPT_CHAIN);
    assert_eq!(
        verify(compiled(), &chain, "letsencrypt.org", AUG_2025),
        Err(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer
        ))
    );
}
