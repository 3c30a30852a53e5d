//! Session tokens of the Clerk-like auth example.
//!
//! A token is `<user>.<session>.<exp>.<hex HMAC-SHA256(secret, "<user>.<session>.<exp>")>`
//! with `exp` in Unix seconds. The auth middleware component and the native
//! proxy the benchmarks compare it with both use this crate, so they do the
//! same work per request.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The signed-in user.
    pub user: String,
    /// The session's id.
    pub session_id: String,
    /// When the token stops being valid, in Unix seconds.
    pub expires_at: u64,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not of the form `<user>.<session>.<exp>.<64 hex digits>`.
    Malformed,
    /// The signature does not match the payload under this secret.
    BadSignature,
    /// `exp` is not in the future.
    Expired,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed",
            Self::BadSignature => "bad signature",
            Self::Expired => "expired",
        })
    }
}

impl std::error::Error for TokenError {}

/// `payload` followed by `.` and its hex HMAC-SHA256 under `secret`.
pub fn sign(payload: &str, secret: &str) -> String {
    let tag = mac(secret, payload).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("{payload}.{hex}")
}

/// A token for `session`, signed with `secret`.
pub fn issue(session: &Session, secret: &str) -> String {
    let Session {
        user,
        session_id,
        expires_at,
    } = session;
    sign(&format!("{user}.{session_id}.{expires_at}"), secret)
}

/// The session a token holds if its signature is valid and it has not
/// expired at `now` (Unix seconds).
pub fn verify(token: &str, secret: &str, now: u64) -> Result<Session, TokenError> {
    let (payload, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let signature = hex(signature).ok_or(TokenError::Malformed)?;
    mac(secret, payload)
        .verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;
    let mut parts = payload.split('.');
    let (Some(user), Some(session_id), Some(exp), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let expires_at: u64 = exp.parse().map_err(|_| TokenError::Malformed)?;
    if expires_at <= now {
        return Err(TokenError::Expired);
    }
    Ok(Session {
        user: user.to_owned(),
        session_id: session_id.to_owned(),
        expires_at,
    })
}

/// Whether `given` equals `expected`, compared as MACs under `secret`, so
/// the time taken tells nothing about `expected`.
pub fn same_secret(secret: &str, given: &str, expected: &str) -> bool {
    mac(secret, given)
        .verify_slice(&mac(secret, expected).finalize().into_bytes())
        .is_ok()
}

fn mac(secret: &str, payload: &str) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    mac
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_at: u64) -> Session {
        Session {
            user: "ada".into(),
            session_id: "sess_1".into(),
            expires_at,
        }
    }

    #[test]
    fn an_issued_token_verifies_until_it_expires() {
        let token = issue(&session(100), "k");
        assert_eq!(verify(&token, "k", 99), Ok(session(100)));
        assert_eq!(verify(&token, "k", 100), Err(TokenError::Expired));
    }

    #[test]
    fn another_secret_or_a_changed_payload_is_refused() {
        let token = issue(&session(100), "k");
        assert_eq!(verify(&token, "other", 0), Err(TokenError::BadSignature));
        let forged = token.replacen("ada", "eve", 1);
        assert_eq!(verify(&forged, "k", 0), Err(TokenError::BadSignature));
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        let signed_two_parts = sign("ada.sess_1", "k");
        let signed_bad_exp = sign("ada.sess_1.soon", "k");
        for token in [
            "",
            ".",
            "no-dot",
            "a.b.c.zz",
            "a.b.1.é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€",
            &signed_two_parts,
            &signed_bad_exp,
        ] {
            assert!(
                matches!(
                    verify(token, "k", 0),
                    Err(TokenError::Malformed | TokenError::BadSignature)
                ),
                "{token:?}"
            );
        }
        assert_eq!(verify(&signed_bad_exp, "k", 0), Err(TokenError::Malformed));
    }

    #[test]
    fn same_secret_compares_values() {
        assert!(same_secret("k", "demo", "demo"));
        assert!(!same_secret("k", "demo", "Demo"));
        assert!(!same_secret("k", "", "demo"));
    }
}
