//! Whom the functions' HTTPS client trusts. By default only Amazon Trust
//! Services, whose roots every AWS endpoint's certificate chains to: loading
//! five embedded certificates costs microseconds where parsing the system
//! store cost most of a cold start's CPU (BENCHMARKS.md), and no other
//! authority in the system store can vouch for a host posing as AWS.

use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// Amazon Root CA 1–4 and Starfield Services Root Certificate Authority - G2,
/// the five roots Amazon Trust Services asks custom trust stores to hold
/// (<https://www.amazontrust.com/repository/>).
pub const AMAZON_TRUST_SERVICES_PEM: &str = include_str!("amazon-trust-services.pem");

/// `OTP_TLS_ROOTS`: the roots the functions' HTTPS client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsRoots {
    /// `amazon` (the default): Amazon Trust Services' roots, embedded.
    #[default]
    AmazonTrustServices,
    /// `system`: the system's trust store, read at the first connection
    /// (`SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured), for endpoints that
    /// are not AWS's own, such as a TLS-inspecting proxy.
    System,
}

impl TlsRoots {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        match lookup("OTP_TLS_ROOTS").as_deref().map(str::trim) {
            None | Some("") | Some("amazon") => Ok(Self::AmazonTrustServices),
            Some("system") => Ok(Self::System),
            Some(_) => Err("OTP_TLS_ROOTS must be amazon or system".into()),
        }
    }
}

/// The SDK's own HTTPS client (hyper, rustls with aws-lc), trusting `roots`.
pub fn https_client(roots: TlsRoots) -> SharedHttpClient {
    let trust_store = match roots {
        TlsRoots::AmazonTrustServices => {
            TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_PEM)
        }
        TlsRoots::System => TrustStore::default(),
    };
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust_store)
                .build()
                // Building only collects its parts; nothing here can fail.
                .expect("a TLS context"),
        )
        .build_https()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    /// The SHA-256 of each root's SubjectPublicKeyInfo, as Amazon publishes
    /// them at <https://www.amazontrust.com/repository/>, with the name it
    /// gives each.
    const PUBLISHED: [(&str, &str); 5] = [
        (
            "Amazon Root CA 1",
            "fbe3018031f9586bcbf41727e417b7d1c45c2f47f93be372a17b96b50757d5a2",
        ),
        (
            "Amazon Root CA 2",
            "7f4296fc5b6a4e3b35d3c369623e364ab1af381d8fa7121533c9d6c633ea2461",
        ),
        (
            "Amazon Root CA 3",
            "36abc32656acfc645c61b71613c4bf21c787f5cabbee48348d58597803d7abc9",
        ),
        (
            "Amazon Root CA 4",
            "f7ecded5c66047d28ed6466b543c40e0743abe81d109254dcf845d4c2c7853c5",
        ),
        (
            "Starfield Services Root Certificate Authority - G2",
            "2b071c59a0a0ae76b0eadb2bad23bad4580b69c3601b630c2eaf0613afa83f92",
        ),
    ];

    /// A DER SEQUENCE around `content` (webpki hands out field contents).
    fn der_sequence(content: &[u8]) -> Vec<u8> {
        let mut out = vec![0x30];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_embedded_roots_are_the_five_amazon_trust_services_publishes() {
        let certificates: Vec<CertificateDer> =
            CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_PEM.as_bytes())
                .collect::<Result<_, _>>()
                .expect("the embedded roots parse as PEM");
        assert_eq!(certificates.len(), PUBLISHED.len());
        for (certificate, (name, published)) in certificates.iter().zip(PUBLISHED) {
            let anchor = webpki::anchor_from_trusted_cert(certificate)
                .unwrap_or_else(|e| panic!("{name}: not a usable trust anchor: {e:?}"));
            let spki = der_sequence(&anchor.subject_public_key_info);
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &spki);
            assert_eq!(hex(digest.as_ref()), published, "{name}");
            // The subject names the root it should (a PrintableString CN).
            let subject = String::from_utf8_lossy(&anchor.subject);
            assert!(subject.contains(name), "{name}: subject {subject:?}");
        }
    }

    #[test]
    fn otp_tls_roots_is_amazon_by_default_system_on_request_and_nothing_else() {
        let with = |value: Option<&str>| {
            TlsRoots::from_lookup(|name| {
                assert_eq!(name, "OTP_TLS_ROOTS");
                value.map(str::to_string)
            })
        };
        assert_eq!(with(None), Ok(TlsRoots::AmazonTrustServices));
        assert_eq!(with(Some("")), Ok(TlsRoots::AmazonTrustServices));
        assert_eq!(with(Some("amazon")), Ok(TlsRoots::AmazonTrustServices));
        assert_eq!(with(Some("system")), Ok(TlsRoots::System));
        assert!(with(Some("none")).is_err());
        assert!(with(Some("/etc/ssl/certs")).is_err());
    }
}
