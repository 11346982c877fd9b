//! Content digests (`algorithm:encoded`) computed over exact bytes.
//!
//! The main type is [`Digest`]. Parsing follows the image-spec descriptor grammar
//! (`algorithm ::= component ([+._-] component)*`, `encoded ::= [a-zA-Z0-9=_-]+`), so a digest
//! with an algorithm referee cannot compute (e.g. `foo:bar`) still parses: whether it is
//! *supported* is a separate question ([`Digest::is_supported`]).

use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest {0:?} has no ':' separator")]
    NoSeparator(String),
    #[error("digest {0:?} has an invalid algorithm part")]
    BadAlgorithm(String),
    #[error("digest {0:?} has an invalid encoded part")]
    BadEncoded(String),
    #[error("digest {0:?} has the wrong length or characters for its algorithm")]
    BadRegistered(String),
}

/// A parsed digest. Cheap to clone; compares by its string form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    text: String,
    colon: usize,
}

/// The algorithms referee can compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }
}

impl Digest {
    /// Parses `algorithm:encoded`. Registered algorithms (sha256, sha512) must also have the
    /// right number of lowercase hex characters.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let colon = s.find(':').ok_or_else(|| DigestError::NoSeparator(s.to_string()))?;
        let (alg, enc) = (&s[..colon], &s[colon + 1..]);
        if !valid_algorithm(alg) {
            return Err(DigestError::BadAlgorithm(s.to_string()));
        }
        if enc.is_empty()
            || !enc.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'=' || b == b'_' || b == b'-')
        {
            return Err(DigestError::BadEncoded(s.to_string()));
        }
        let hex_len = match alg {
            "sha256" => Some(64),
            "sha512" => Some(128),
            _ => None,
        };
        if let Some(n) = hex_len
            && (enc.len() != n || !enc.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return Err(DigestError::BadRegistered(s.to_string()));
        }
        Ok(Digest { text: s.to_string(), colon })
    }

    /// The digest of `bytes` under `alg`.
    pub fn of(alg: Algorithm, bytes: &[u8]) -> Digest {
        let enc = match alg {
            Algorithm::Sha256 => hex::encode(Sha256::digest(bytes)),
            Algorithm::Sha512 => hex::encode(Sha512::digest(bytes)),
        };
        let text = format!("{}:{}", alg.name(), enc);
        Digest { colon: alg.name().len(), text }
    }

    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest::of(Algorithm::Sha256, bytes)
    }

    pub fn sha512(bytes: &[u8]) -> Digest {
        Digest::of(Algorithm::Sha512, bytes)
    }

    pub fn algorithm(&self) -> &str {
        &self.text[..self.colon]
    }

    pub fn encoded(&self) -> &str {
        &self.text[self.colon + 1..]
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The algorithm if referee can compute it.
    pub fn known_algorithm(&self) -> Option<Algorithm> {
        match self.algorithm() {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    pub fn is_supported(&self) -> bool {
        self.known_algorithm().is_some()
    }

    /// True when `bytes` hash to this digest; false for an algorithm referee cannot compute.
    pub fn verify(&self, bytes: &[u8]) -> bool {
        match self.known_algorithm() {
            Some(alg) => Digest::of(alg, bytes) == *self,
            None => false,
        }
    }
}

fn valid_algorithm(alg: &str) -> bool {
    // component ([+._-] component)*, component = [a-z0-9]+
    if alg.is_empty() {
        return false;
    }
    let mut prev_sep = true;
    for b in alg.bytes() {
        let is_comp = b.is_ascii_lowercase() || b.is_ascii_digit();
        let is_sep = matches!(b, b'+' | b'.' | b'_' | b'-');
        if is_comp {
            prev_sep = false;
        } else if is_sep && !prev_sep {
            prev_sep = true;
        } else {
            return false;
        }
    }
    !prev_sep
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_json_digest_is_the_spec_value() {
        assert_eq!(
            Digest::sha256(b"{}").as_str(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn parses_and_rejects() {
        let d = Digest::sha512(b"x");
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        assert_eq!(d.algorithm(), "sha512");
        assert!(Digest::parse("sha256:xyz").is_err());
        assert!(Digest::parse("notadigest").is_err());
        assert!(Digest::parse("sha256:").is_err());
        assert!(Digest::parse("Foo:bar").is_err());
        let unknown = Digest::parse("foo+bar:baz=").unwrap();
        assert!(!unknown.is_supported());
        assert!(!unknown.verify(b""));
    }
}
