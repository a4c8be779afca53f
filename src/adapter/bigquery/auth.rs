//! Access tokens for BigQuery: a service-account key file (a signed JWT
//! exchanged at the key's token URI), application default credentials (the
//! file `GOOGLE_APPLICATION_CREDENTIALS` names, gcloud's user credentials,
//! or the metadata server of a Google Cloud machine), or none at all for an
//! emulator. Keys and tokens stay inside this module: `Debug` shows neither,
//! and no error message quotes them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::Value;

const SCOPE: &str = "https://www.googleapis.com/auth/bigquery";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const METADATA_TOKEN_URL: &str =
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token";

/// Where tokens come from.
enum Source {
    /// An emulator: requests carry no `Authorization` header.
    None,
    ServiceAccount {
        email: String,
        key: RsaKeyPair,
        token_uri: String,
    },
    AuthorizedUser {
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: String,
    },
    Metadata,
}

/// Hands out bearer tokens, refreshing them a minute before they expire.
pub struct Credentials {
    source: Source,
    cached: Mutex<Option<(String, Instant)>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.source {
            Source::None => "none",
            Source::ServiceAccount { .. } => "service account",
            Source::AuthorizedUser { .. } => "authorized user",
            Source::Metadata => "metadata server",
        };
        write!(f, "Credentials({kind})")
    }
}

impl Credentials {
    /// No credentials (an emulator).
    pub fn none() -> Self {
        Self::from_source(Source::None)
    }

    fn from_source(source: Source) -> Self {
        Self {
            source,
            cached: Mutex::new(None),
        }
    }

    /// Reads a key file: a service account's JSON key or gcloud's
    /// `authorized_user` credentials.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            format!(
                "cannot read the BigQuery key file {}: {err}",
                path.display()
            )
        })?;
        Self::from_json(&text).map_err(|why| {
            format!(
                "the BigQuery key file {} is not usable: {why}",
                path.display()
            )
        })
    }

    /// Parses key JSON. Errors name the missing or broken field, never a value.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text)
            .map_err(|_| "it is not valid JSON (expected a service-account key)".to_owned())?;
        let field = |name: &str| -> Result<String, String> {
            value
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("it has no `{name}`"))
        };
        let token_uri = value
            .get("token_uri")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_TOKEN_URI)
            .to_owned();
        match value.get("type").and_then(Value::as_str) {
            Some("service_account") => {
                let pem = field("private_key")?;
                let der = pem_to_der(&pem)
                    .ok_or_else(|| "its `private_key` is not a PEM private key".to_owned())?;
                let key = RsaKeyPair::from_pkcs8(&der)
                    .map_err(|_| "its `private_key` is not an RSA key in PKCS#8 form".to_owned())?;
                Ok(Self::from_source(Source::ServiceAccount {
                    email: field("client_email")?,
                    key,
                    token_uri,
                }))
            }
            Some("authorized_user") => Ok(Self::from_source(Source::AuthorizedUser {
                client_id: field("client_id")?,
                client_secret: field("client_secret")?,
                refresh_token: field("refresh_token")?,
                token_uri,
            })),
            Some(other) => Err(format!(
                "its type `{other}` is not supported (use a service-account key)"
            )),
            None => Err("it has no `type`".to_owned()),
        }
    }

    /// Application default credentials: `GOOGLE_APPLICATION_CREDENTIALS`,
    /// then gcloud's well-known file, then the metadata server.
    pub fn application_default() -> Result<Self, String> {
        if let Some(path) = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
        {
            return Self::from_file(&path);
        }
        let config = std::env::var_os("CLOUDSDK_CONFIG")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config/gcloud"))
            });
        if let Some(well_known) = config
            .map(|dir| dir.join("application_default_credentials.json"))
            .filter(|p| p.is_file())
        {
            return Self::from_file(&well_known);
        }
        Ok(Self::from_source(Source::Metadata))
    }

    pub fn is_none(&self) -> bool {
        matches!(self.source, Source::None)
    }

    /// A bearer token, or `None` when requests go unauthenticated.
    pub async fn token(&self, http: &reqwest::Client) -> Result<Option<String>, String> {
        if self.is_none() {
            return Ok(None);
        }
        if let Ok(cached) = self.cached.lock()
            && let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(Some(token.clone()));
        }
        let (token, lifetime) = self.fetch(http).await?;
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_mins(1));
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((token.clone(), until));
        }
        Ok(Some(token))
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<(String, Duration), String> {
        let request = match &self.source {
            Source::None => return Err("no credentials".to_owned()),
            Source::ServiceAccount {
                email,
                key,
                token_uri,
            } => {
                let assertion = signed_jwt(email, key, token_uri, unix_now())?;
                http.post(token_uri).form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", assertion.as_str()),
                ])
            }
            Source::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
            } => http.post(token_uri).form(&[
                ("grant_type", "refresh_token"),
                ("client_id", client_id.as_str()),
                ("client_secret", client_secret.as_str()),
                ("refresh_token", refresh_token.as_str()),
            ]),
            Source::Metadata => http
                .get(METADATA_TOKEN_URL)
                .header("Metadata-Flavor", "Google"),
        };
        let response = request
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|err| {
                format!(
                    "cannot get a BigQuery access token: {}",
                    super::client::describe_transport(&err)
                )
            })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            // The token endpoint's `error` / `error_description` say why
            // (e.g. `invalid_grant`) without echoing credentials.
            let why = [body.get("error"), body.get("error_description")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(": ");
            return Err(format!(
                "cannot get a BigQuery access token: HTTP {status}{}",
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({why})")
                }
            ));
        }
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or("the token endpoint answered without an access token")?;
        let lifetime = body.get("expires_in").and_then(Value::as_u64).unwrap_or(0);
        Ok((token.to_owned(), Duration::from_secs(lifetime)))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The RS256-signed assertion of OAuth's JWT bearer grant, valid one hour.
fn signed_jwt(email: &str, key: &RsaKeyPair, audience: &str, now: u64) -> Result<String, String> {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iss": email,
        "scope": SCOPE,
        "aud": audience,
        "iat": now,
        "exp": now + 3600,
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{claims}");
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "cannot sign the access-token request with the key".to_owned())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// The DER bytes inside a PEM block.
fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_key_file_is_named_without_its_contents() {
        let secret = r#"{"type": "service_account", "client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXZhbHVl\n-----END PRIVATE KEY-----\n"}"#;
        let error = Credentials::from_json(secret).expect_err("not an RSA key");
        assert!(error.contains("private_key"), "{error}");
        assert!(!error.contains("c2VjcmV0"), "{error}");
        let error = Credentials::from_json("{not json").expect_err("not JSON");
        assert!(!error.contains("{not"), "{error}");
        let error = Credentials::from_json(r#"{"type": "authorized_user", "client_id": "x"}"#)
            .expect_err("incomplete");
        assert!(error.contains("client_secret"), "{error}");
    }

    #[test]
    fn debug_output_hides_the_credentials() {
        let credentials = Credentials::from_json(
            r#"{"type": "authorized_user", "client_id": "id", "client_secret": "hush", "refresh_token": "hush2"}"#,
        )
        .expect("valid");
        let shown = format!("{credentials:?}");
        assert_eq!(shown, "Credentials(authorized user)");
    }

    #[test]
    fn no_credentials_means_no_token() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let http = reqwest::Client::new();
        let token = runtime
            .block_on(Credentials::none().token(&http))
            .expect("no error");
        assert_eq!(token, None);
    }
}
