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
            let reply = r#"{"access_token": "tok-123", "expires_in": 3600}"#;
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
        let credentials = Credentials::from_json(&key.to_string()).expect("a usable key");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let http = reqwest::Client::new();
        let token = runtime.block_on(credentials.token(&http)).expect("a token");
        assert_eq!(token.as_deref(), Some("tok-123"));
        // Cached: a second call sends nothing (the server takes one request).
        let again = runtime.block_on(credentials.token(&http)).expect("a token");
        assert_eq!(again.as_deref(), Some("tok-123"));

        let form = server.join().expect("the server saw the request");
        assert!(
            form.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"),
            "{form}"
        );
        let assertion = form
            .split('&')
            .find_map(|pair| pair.strip_prefix("assertion="))
            .expect("an assertion");
        let parts: Vec<&str> = assertion.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64"))
                .expect("JSON");
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
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64");
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("a valid RS256 signature");
    }
}
