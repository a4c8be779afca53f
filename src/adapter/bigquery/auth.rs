//! Who sb is to BigQuery: one `Authenticator` (gcp-bigquery-client's
//! trait) per target, shared by the client's API calls and sb's own upload
//! and result requests. It hands out bearer tokens for a service-account key
//! (`keyfile`), for application default credentials, or, against another
//! endpoint such as an emulator, a fixed stand-in so that no credentials are
//! read at all.
//!
//! The tokens come from yup-oauth2, gcp-bigquery-client's OAuth stack (the
//! crate re-exports it): it signs a service account's JWT, exchanges
//! gcloud's refresh token, or asks the metadata server, and caches each token
//! until shortly before it expires. The crate only builds those
//! authenticators inside a `Client` it hands back, with no way to reach the
//! token for a request of sb's own, so sb builds the same ones here and gives
//! one to both. What stays sb's own: reading the key file (so that an error
//! names the file and the broken field, never a value) and the search order
//! of application default credentials (`GOOGLE_APPLICATION_CREDENTIALS`,
//! gcloud's well-known file under `CLOUDSDK_CONFIG`, then the metadata
//! server).
//!
//! Keys and tokens stay inside: `Debug` shows neither, no error message
//! quotes them, and sb installs no `log` logger (yup-oauth2 logs its token
//! requests and answers at debug level).

use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use gcp_bigquery_client::auth::Authenticator;
use gcp_bigquery_client::error::BQError;
use gcp_bigquery_client::yup_oauth2;
use serde_json::Value;
use yup_oauth2::{DefaultHyperClientBuilder, HyperClientBuilder};

use super::settings::CredentialPaths;

const SCOPE: &str = "https://www.googleapis.com/auth/bigquery";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The bearer "token" requests to another endpoint (an emulator) carry:
/// not a credential, just something in the header the client insists on.
pub const STAND_IN_TOKEN: &str = "sb-no-credentials";

type YupAuthenticator = yup_oauth2::authenticator::Authenticator<
    <DefaultHyperClientBuilder as HyperClientBuilder>::Connector,
>;

/// A future as `#[async_trait]` spells it, which `Authenticator` uses.
type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<String, BQError>> + Send + 'a>>;

/// The stand-in for an endpoint that needs no credentials.
#[derive(Clone)]
struct StandIn;

impl Authenticator for StandIn {
    fn access_token<'life0, 'async_trait>(&'life0 self) -> TokenFuture<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async { Ok(STAND_IN_TOKEN.to_owned()) })
    }
}

/// Google's tokens, by whichever flow yup-oauth2 was built with.
#[derive(Clone)]
struct Google(YupAuthenticator);

impl Authenticator for Google {
    fn access_token<'life0, 'async_trait>(&'life0 self) -> TokenFuture<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let token = self.0.token(&[SCOPE]).await?;
            token.token().map(str::to_owned).ok_or(BQError::NoToken)
        })
    }
}

/// Where tokens come from, as a shareable authenticator.
#[derive(Clone)]
pub struct Credentials {
    /// What kind of credentials (for `Debug`; never a secret).
    kind: &'static str,
    authenticator: Arc<dyn Authenticator>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({})", self.kind)
    }
}

impl Credentials {
    /// No credentials (an emulator): a fixed stand-in token.
    pub fn none() -> Self {
        Self {
            kind: "none",
            authenticator: Arc::new(StandIn),
        }
    }

    fn google(kind: &'static str, authenticator: YupAuthenticator) -> Self {
        Self {
            kind,
            authenticator: Arc::new(Google(authenticator)),
        }
    }

    pub fn authenticator(&self) -> Arc<dyn Authenticator> {
        Arc::clone(&self.authenticator)
    }

    /// Reads a key file: a service account's JSON key or gcloud's
    /// `authorized_user` credentials.
    pub async fn from_file(path: &Path) -> Result<Self, CredentialsError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CredentialsError::Unreadable {
                path: path.display().to_string(),
                source,
            })?;
        Self::from_json(&text)
            .await
            .map_err(|why| CredentialsError::Unusable {
                path: path.display().to_string(),
                why,
            })
    }

    /// Parses key JSON. Errors name the missing or broken field, never a
    /// value: sb reads the fields itself rather than quote a parser.
    pub async fn from_json(text: &str) -> Result<Self, KeyError> {
        let value: Value = serde_json::from_str(text).map_err(|_| KeyError::NotJson)?;
        let field = |name: &str| -> Result<String, KeyError> {
            value
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| KeyError::MissingField(name.to_owned()))
        };
        let optional = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        match value.get("type").and_then(Value::as_str) {
            Some("service_account") => {
                let key = yup_oauth2::ServiceAccountKey {
                    key_type: Some("service_account".to_owned()),
                    project_id: optional("project_id"),
                    private_key_id: optional("private_key_id"),
                    private_key: {
                        let key = field("private_key")?;
                        crate::secrets::register(&key);
                        key
                    },
                    client_email: field("client_email")?,
                    client_id: optional("client_id"),
                    auth_uri: optional("auth_uri"),
                    token_uri: optional("token_uri")
                        .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned()),
                    auth_provider_x509_cert_url: None,
                    client_x509_cert_url: None,
                };
                let authenticator = yup_oauth2::ServiceAccountAuthenticator::builder(key)
                    .with_timeout(TOKEN_REQUEST_TIMEOUT)
                    .build()
                    .await
                    .map_err(|err| {
                        setup_error(
                            &err,
                            "its `private_key` is not an RSA private key in PEM form",
                        )
                    })?;
                Ok(Self::google("service account", authenticator))
            }
            Some("authorized_user") => {
                let secret = yup_oauth2::authorized_user::AuthorizedUserSecret {
                    client_id: field("client_id")?,
                    client_secret: field("client_secret")?,
                    refresh_token: field("refresh_token")?,
                    key_type: "authorized_user".to_owned(),
                };
                let authenticator = yup_oauth2::AuthorizedUserAuthenticator::builder(secret)
                    .with_timeout(TOKEN_REQUEST_TIMEOUT)
                    .build()
                    .await
                    .map_err(|err| setup_error(&err, "it cannot be used"))?;
                Ok(Self::google("authorized user", authenticator))
            }
            Some(other) => Err(KeyError::UnsupportedType(other.to_owned())),
            None => Err(KeyError::NoType),
        }
    }

    /// Application default credentials: `GOOGLE_APPLICATION_CREDENTIALS`,
    /// then gcloud's well-known file, then the metadata server of a Google
    /// Cloud machine.
    pub async fn application_default(paths: &CredentialPaths) -> Result<Self, CredentialsError> {
        if let Some(path) = paths
            .named_key
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty())
        {
            return Self::from_file(path).await;
        }
        if let Some(well_known) = paths
            .gcloud_config
            .as_ref()
            .map(|dir| dir.join("application_default_credentials.json"))
            .filter(|p| p.is_file())
        {
            return Self::from_file(&well_known).await;
        }
        let options = yup_oauth2::ApplicationDefaultCredentialsFlowOpts::default();
        match yup_oauth2::ApplicationDefaultCredentialsAuthenticator::builder(options).await {
            yup_oauth2::authenticator::ApplicationDefaultCredentialsTypes::InstanceMetadata(
                builder,
            ) => {
                let authenticator = builder
                    .with_timeout(TOKEN_REQUEST_TIMEOUT)
                    .build()
                    .await
                    .map_err(|err| {
                        CredentialsError::MetadataServer(setup_error(
                            &err,
                            "the metadata server cannot be used",
                        ))
                    })?;
                Ok(Self::google("metadata server", authenticator))
            }
            // yup-oauth2 reads the variable again and found it set: empty,
            // since a non-empty one was taken above.
            yup_oauth2::authenticator::ApplicationDefaultCredentialsTypes::ServiceAccount(_) => {
                Err(CredentialsError::EmptyVariable)
            }
        }
    }
}

/// Why an authenticator could not be set up. yup-oauth2's own messages are
/// fixed texts (they never quote the key); `NotFound` is its HTTPS set-up
/// finding no root certificates, anything else the credentials themselves.
fn setup_error(err: &io::Error, credentials: &'static str) -> KeyError {
    if err.kind() == io::ErrorKind::NotFound {
        KeyError::Https(err.to_string())
    } else {
        KeyError::Unusable(credentials)
    }
}

/// Why sb has no credentials for a BigQuery target.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read the BigQuery key file {path}: {source}")]
    Unreadable { path: String, source: io::Error },
    #[error("the BigQuery key file {path} is not usable: {why}")]
    Unusable { path: String, why: KeyError },
    #[error(
        "GOOGLE_APPLICATION_CREDENTIALS is set but empty: name a key file, or unset it to use gcloud's credentials or the metadata server"
    )]
    EmptyVariable,
    #[error("{0}")]
    MetadataServer(KeyError),
}

/// What is wrong with a key: the field, never its value.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("it is not valid JSON (expected a service-account key)")]
    NotJson,
    #[error("it has no `{0}`")]
    MissingField(String),
    #[error("its type `{0}` is not supported (use a service-account key)")]
    UnsupportedType(String),
    #[error("it has no `type`")]
    NoType,
    #[error("cannot set up HTTPS for token requests ({0})")]
    Https(String),
    /// yup-oauth2 refused the credentials: which ones, in sb's words.
    #[error("{0}")]
    Unusable(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<T>(work: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(work)
    }

    #[test]
    fn a_broken_key_file_is_named_without_its_contents() {
        let secret = r#"{"type": "service_account", "client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXZhbHVl\n-----END PRIVATE KEY-----\n"}"#;
        let error = block(Credentials::from_json(secret))
            .expect_err("not an RSA key")
            .to_string();
        assert!(error.contains("private_key"), "{error}");
        assert!(!error.contains("c2VjcmV0"), "{error}");
        let error = block(Credentials::from_json("{not json"))
            .expect_err("not JSON")
            .to_string();
        assert!(!error.contains("{not"), "{error}");
        let error = block(Credentials::from_json(
            r#"{"type": "authorized_user", "client_id": "x"}"#,
        ))
        .expect_err("incomplete")
        .to_string();
        assert!(error.contains("client_secret"), "{error}");
    }

    #[test]
    fn debug_output_hides_the_credentials() {
        let credentials = block(Credentials::from_json(
            r#"{"type": "authorized_user", "client_id": "id", "client_secret": "hush", "refresh_token": "hush2"}"#,
        ))
        .expect("valid");
        let shown = format!("{credentials:?}");
        assert_eq!(shown, "Credentials(authorized user)");
    }

    #[test]
    fn no_credentials_means_a_stand_in_token() {
        let credentials = Credentials::none();
        assert_eq!(format!("{credentials:?}"), "Credentials(none)");
        let token = block(credentials.authenticator().access_token()).expect("no error");
        assert_eq!(token, STAND_IN_TOKEN);
    }

    /// A throwaway RSA key made for this test only (PKCS#8, base64 DER):
    /// it signs nothing anywhere else.
    const THROWAWAY_KEY_DER_BASE64: &str = concat!(
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCymv6dUbhburPIelNIVKRE+5yQ",
        "GIX6l2FpxP1qJp+F0RUFIML9jm89sBwkt17Dsx/jUcx1QGjSjarBUEph3oRh1U5ODytAMCuVSr64",
        "PG4sdjhP2CnSwodAsdpHPZNEXi8y0LGuYXaiZpwU0BDyLSR3alhRnOkA5bv7DWrjCRNGIeuXa2ty",
        "A3lzKrEZHvI5+E+8y6IN6fXpCpH7UtVDvZ0oo9wwLKf7oLFj/Z7UJbEVYsX4fEBXfSqBHf2qgejr",
        "mrZ7jpwz5PHr7pWnCuYr0kV7fGrYlcDMNXJazQ2UDIsUDWKq3jxolb/BRdynj0FYbMdoTpgCnYRh",
        "JY/ud2DS/rR7AgMBAAECggEABISEW+Vqp+iOIhEcMAVBmnKfwEEDd3iWT5UzOoU2p8Du5ctigMmF",
        "EPWduTzzYXPYcZBNMGg2DVJHt0ReByGOhEfpacGWUHoYrG2VkqAJmzkRrbl/Fo4en9gkvSIblrr2",
        "1viDyH8WTn9zebFy11wbalWI50jM612pK22P6rj9Hr1uoLaBXU77XjRyiiQnwfyz58CbUvWiZ0jY",
        "0sYklSs5VRkslku+CUQU3LNQ1jQeJKU23g0Vvz8mg9EqSNJ9rkU6j98zoTrCPoyZthQNLA2CrZ8t",
        "BmuSN04XslEfdBE5WB0IZG0DJ5r1Q9sw/45qRwNQFkfEjQ+jXudEN8aWIksAsQKBgQDwx/CxLnbZ",
        "lqmbnBbKu+I0xsWphtgyaQACuY/9hu2ixduv7tNh86FxrYpLxqxK+nNqzx272BXg70E3KJd+X8By",
        "GmRZZS6Cyr0Zd7gTHwDh/Um9+RMUIzu4uTBHGILn3hOEfootKxVeY3m7kpAg0k7Kpd4bq7OnV7CJ",
        "9Lr/Ird9TQKBgQC95P8BC8gbV5Q8ve2nuFGvW9574psv9ZKPvjns9x9TdHmmxASqQYvVRZG2RZx1",
        "7fCwyFiV1nupYbqqf3ez6hTq5o8lZh1FkFMokXW5ENKhR+JjyE0YabrMyfJp1HT2nHXbknCuqSiT",
        "ia40L/VRDmOYxkNh0MpK7q19rV63CV005wKBgB2zTAlPBfIJF5rOQjF3w4tnCXLD4180fH/Zi91m",
        "C2IMrfChsQlgGAYBthFqzE3jXuFJ8wz8tpYsbQr0wtsfzIlGoCI2zOntQC4oClixdlZp+/KnCqdt",
        "QSykC0R5zYv0ZMvvH/Q6YERoWNe+WHD0ACwXEbKwF1UJCAm8WmSmT6PxAoGAOiLBbzCMMtK9L1t2",
        "RsLHP0iA9KyLlkM4e4lhcoq1rHccR1H7m6Q1izWhRoxJOlF+PqEXfcgMU+73lvsvSoV/oeq0KF76",
        "1zE4RFNEF0RvN7EqPiI0eCTma4voCz5gEKAV9QMAPHjNU13zV0bXc9lT5JHOT0P8qrQnqTJKrP7Q",
        "6kECgYEAzqveijna2MSoVxNRk9q2QbQ8jkEfywLPXBtEOP4olCq/rikU98ulHvR9pPLsMy5gSdv7",
        "BiVKfn/FSZRcK+p1kMF6P8AzR8dbHjM/MitZhXtBMz92U6vWUD8ohyPxP5whyLoSrPbiMrRJnoOx",
        "aAknhv76IyKYy6FwnvP+i6IIJdI=",
    );

    #[test]
    fn a_service_account_key_signs_a_jwt_exchanged_for_a_token() {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        use ring::signature::RsaKeyPair;
        use std::io::{BufRead, BufReader, Read, Write};

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let token_uri = format!("http://{}/token", listener.local_addr().expect("address"));
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("a request");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("read");
                if line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            let reply =
                r#"{"access_token": "tok-123", "expires_in": 3600, "token_type": "Bearer"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
            String::from_utf8(body).expect("form")
        });
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{THROWAWAY_KEY_DER_BASE64}\n-----END PRIVATE KEY-----\n"
        );
        let key = serde_json::json!({
            "type": "service_account",
            "client_email": "sb@example.iam",
            "private_key": pem,
            "token_uri": token_uri,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let credentials = runtime
            .block_on(Credentials::from_json(&key.to_string()))
            .expect("a usable key");
        assert_eq!(format!("{credentials:?}"), "Credentials(service account)");
        let authenticator = credentials.authenticator();
        let token = runtime
            .block_on(authenticator.access_token())
            .expect("a token");
        assert_eq!(token, "tok-123");
        // Cached: a second call sends nothing (the server takes one request).
        let again = runtime
            .block_on(authenticator.access_token())
            .expect("a token");
        assert_eq!(again, "tok-123");

        let form = server.join().expect("the server saw the request");
        assert!(
            form.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"),
            "{form}"
        );
        // Form-encoded, and yup-oauth2 pads its base64url with `=` (`%3D`).
        let assertion = form
            .split('&')
            .find_map(|pair| pair.strip_prefix("assertion="))
            .expect("an assertion")
            .replace("%3D", "=");
        let unpadded = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part.trim_end_matches('='))
                .expect("base64")
        };
        let parts: Vec<&str> = assertion.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value = serde_json::from_slice(&unpadded(parts[1])).expect("JSON");
        assert_eq!(claims["iss"], "sb@example.iam");
        assert_eq!(claims["scope"], SCOPE);
        assert_eq!(claims["aud"], token_uri.as_str());
        // The signature verifies with the key's public half.
        let der = STANDARD.decode(THROWAWAY_KEY_DER_BASE64).expect("base64");
        let pair = RsaKeyPair::from_pkcs8(&der).expect("key");
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            pair.public().as_ref().to_vec(),
        );
        let signature = unpadded(parts[2]);
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("a valid RS256 signature");
    }
}
