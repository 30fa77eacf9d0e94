//! The JWS signature algorithms this system issues and accepts: ES256 (ECDSA P-256, the
//! default for new keys) and PS256 (RSA-PSS, ≥ 2048 bits). Every validator names the ones it
//! accepts (an allow-list, RFC 8725 §3.1); everything else, `none` and HS* included, is
//! refused before any key is looked up. Each key is used only with its own algorithm.

use std::{fmt, str::FromStr};

/// `alg` of ECDSA P-256 with SHA-256 (RFC 7518 §3.4).
pub const ALG_ES256: &str = "ES256";
/// `alg` of RSASSA-PSS with SHA-256 (RFC 7518 §3.5).
pub const ALG_PS256: &str = "PS256";

/// A signature algorithm of this system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256; JOSE signatures are `r || s` (64 bytes).
    Es256,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256.
    Ps256,
}

impl Algorithm {
    /// Every algorithm this system supports (the default allow-list).
    pub const ALL: [Self; 2] = [Self::Es256, Self::Ps256];

    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => ALG_ES256,
            Self::Ps256 => ALG_PS256,
        }
    }

    /// The algorithm named exactly `name` (case matters: `ps256` is not PS256).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    /// Parses a comma-separated allow-list such as `ES256,PS256` (spaces ignored, no
    /// repeats, at least one).
    pub fn parse_list(list: &str) -> Result<Vec<Self>, String> {
        let mut algorithms = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let alg: Self = name.parse()?;
            if algorithms.contains(&alg) {
                return Err(format!("algorithm {name} is listed twice"));
            }
            algorithms.push(alg);
        }
        if algorithms.is_empty() {
            return Err("the algorithm list is empty (ES256, PS256)".into());
        }
        Ok(algorithms)
    }

    pub(crate) fn biscuit(self) -> biscuit::jwa::SignatureAlgorithm {
        match self {
            Self::Es256 => biscuit::jwa::SignatureAlgorithm::ES256,
            Self::Ps256 => biscuit::jwa::SignatureAlgorithm::PS256,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name).ok_or_else(|| format!("unsupported algorithm {name:?} (ES256 or PS256)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_exact_and_lists_are_checked() {
        assert_eq!(Algorithm::parse("ES256"), Some(Algorithm::Es256));
        assert_eq!(Algorithm::parse("PS256"), Some(Algorithm::Ps256));
        for bad in ["es256", "ps256", "RS256", "HS256", "none", "ES384", ""] {
            assert_eq!(Algorithm::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Algorithm::parse_list(" ES256 , PS256 ").unwrap(),
            vec![Algorithm::Es256, Algorithm::Ps256]
        );
        assert_eq!(Algorithm::parse_list("PS256").unwrap(), [Algorithm::Ps256]);
        for bad in ["", " , ", "ES256,ES256", "ES256,HS256", "none"] {
            assert!(Algorithm::parse_list(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Algorithm::Es256.to_string(), "ES256");
    }
}
