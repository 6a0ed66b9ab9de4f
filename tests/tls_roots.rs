//! The functions' HTTPS client trusts Amazon Trust Services alone unless told
//! otherwise (`OTP_TLS_ROOTS=system`): a server whose certificate chains to a
//! root of this test's own is refused by default, even though the system
//! store (`SSL_CERT_FILE`) holds that root, and accepted with the switch.
//! The rest of the suite runs through the same client to DynamoDB Local and
//! moto (`otp_integration_tests::aws_config`).

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use otp_shared::aws::{TlsRoots, https_client, load_sdk_config};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;

/// A root of the test's own, and a certificate for `localhost` it signed.
struct TestPki {
    root_pem: String,
    server_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    server_key: rustls::pki_types::PrivateKeyDer<'static>,
}

fn test_pki() -> TestPki {
    let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.distinguished_name
        .push(DnType::CommonName, "otp tls_roots test root");
    let root = CertifiedIssuer::self_signed(root, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &root)
        .unwrap();
    TestPki {
        root_pem: root.pem(),
        server_chain: vec![server.der().clone()],
        server_key: rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
    }
}

/// An HTTPS server on 127.0.0.1 answering every request as DynamoDB answers
/// an empty ListTables; returns its port and the count of requests it read.
async fn https_server(pki: &TestPki) -> (u16, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.server_chain.clone(), pki.server_key.clone_key())
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, counted) = (acceptor.clone(), counted.clone());
            tokio::spawn(async move {
                // A refused handshake ends here: the client hung up.
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |_: hyper::Request<Incoming>| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async {
                        hyper::Response::builder()
                            .header("content-type", "application/x-amz-json-1.0")
                            .body(Full::new(Bytes::from_static(br#"{"TableNames":[]}"#)))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (port, requests)
}

/// ListTables at `https://localhost:<port>` through the functions' own SDK
/// configuration with `roots`, without retries.
async fn list_tables(roots: TlsRoots, port: u16) -> Result<(), String> {
    let sdk = load_sdk_config(https_client(roots)).await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(format!("https://localhost:{port}"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
        .list_tables()
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            // The whole chain: the TLS refusal is a few sources down.
            let mut text = e.to_string();
            let mut source = e.source();
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        })
}

#[tokio::test]
async fn the_default_client_trusts_only_amazon_and_the_switch_restores_the_system_store() {
    let pki = test_pki();
    let dir = std::env::temp_dir().join(format!("otp-tls-roots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root_file = dir.join("test-root.pem");
    std::fs::write(&root_file, &pki.root_pem).unwrap();
    // SAFETY: this test binary holds this one test, and nothing else reads
    // the environment while it is set: the system store (rustls-native-certs,
    // behind OTP_TLS_ROOTS=system) reads SSL_CERT_FILE at first use, later.
    unsafe { std::env::set_var("SSL_CERT_FILE", &root_file) };
    let (port, requests) = https_server(&pki).await;

    let refused = list_tables(TlsRoots::AmazonTrustServices, port).await;
    let error = refused.expect_err("the default client refuses a root that is not Amazon's");
    assert!(
        error.contains("UnknownIssuer") || error.contains("unknown issuer"),
        "refused for another reason: {error}"
    );
    assert_eq!(
        requests.load(Ordering::SeqCst),
        0,
        "no request may cross a refused handshake"
    );

    list_tables(TlsRoots::System, port)
        .await
        .expect("OTP_TLS_ROOTS=system trusts the system store, SSL_CERT_FILE's root");
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
