//! Secret values, kept out of everything sb writes: the values of the
//! environment variables named `SB_SECRET_*` or `DBT_ENV_SECRET_*` (read by
//! the session), and what adapters register (a key file's private key, an
//! access token). Every output path passes its text through [`redact`]:
//! the reporter's sinks (stdout, stderr) and the writers of files under
//! `target/` (artifacts, compiled and run SQL, the docs site), which
//! replaces each secret with `*****`. Values shorter than four characters
//! are not registered: replacing them would garble everything else.

use std::borrow::Cow;
use std::sync::RwLock;

/// What a secret is replaced with.
pub const MASK: &str = "*****";

/// The shortest value treated as a secret.
const SHORTEST: usize = 4;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Whether an environment variable's value is a secret, by its name.
pub fn is_secret_name(name: &str) -> bool {
    name.starts_with("SB_SECRET_") || name.starts_with("DBT_ENV_SECRET_")
}

/// Adds `value` to the secrets (trimmed; too short or known ones are
/// skipped).
pub fn register(value: &str) {
    let value = value.trim();
    if value.chars().count() < SHORTEST {
        return;
    }
    if let Ok(mut secrets) = SECRETS.write()
        && !secrets.iter().any(|known| known == value)
    {
        secrets.push(value.to_string());
        // The longest first, so a secret inside another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Whether any secret is registered (then files sb writes are masked).
pub fn any() -> bool {
    SECRETS.read().is_ok_and(|s| !s.is_empty())
}

/// `text` with every secret replaced by [`MASK`]; borrowed when it holds
/// none (the common case costs one scan per secret).
pub fn redact(text: &str) -> Cow<'_, str> {
    let Ok(secrets) = SECRETS.read() else {
        return Cow::Borrowed(text);
    };
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    out
}

/// [`redact`] for bytes that may not be UTF-8 (a file's contents): text is
/// redacted, anything else is returned as it is.
pub fn redact_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    if !any() {
        return Cow::Borrowed(bytes);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => match redact(text) {
            Cow::Borrowed(_) => Cow::Borrowed(bytes),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        },
        Err(_) => Cow::Borrowed(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_masked_and_short_ones_ignored() {
        register("hunter2-long-secret");
        register("abc");
        assert_eq!(redact("token=hunter2-long-secret; abc"), "token=*****; abc");
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
        assert_eq!(
            redact_bytes(b"x hunter2-long-secret y").as_ref(),
            b"x ***** y"
        );
        assert!(is_secret_name("DBT_ENV_SECRET_TOKEN"));
        assert!(is_secret_name("SB_SECRET_KEY"));
        assert!(!is_secret_name("HOME"));
    }
}
