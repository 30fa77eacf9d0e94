//! The token request's form (RFC 6749 §3.2): `application/x-www-form-urlencoded`, UTF-8,
//! each parameter at most once except `resource` (RFC 8707 §2 lets it repeat), empty values
//! treated as absent (§3.1).

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use zte_auth::oauth::param;

use crate::error::OAuthError;

/// Parameters that may be given more than once.
const REPEATABLE: [&str; 1] = [param::RESOURCE];

/// The form parameters, each present at most once (but see [`REPEATABLE`]); empty values
/// count as absent (RFC 6749 §3.1).
#[derive(Debug, Default)]
pub struct Params(HashMap<String, Vec<String>>);

impl Params {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "content type must be application/x-www-form-urlencoded",
            ));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(OAuthError::invalid_request("body is not UTF-8"));
        }
        let mut params: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if value.contains('\u{FFFD}') || name.contains('\u{FFFD}') {
                return Err(OAuthError::invalid_request(
                    "a parameter is not valid UTF-8",
                ));
            }
            if value.is_empty() {
                continue;
            }
            let values = params.entry(name.to_string()).or_default();
            if !values.is_empty() && !REPEATABLE.contains(&name.as_ref()) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} is repeated",
                    safe_name(&name)
                )));
            }
            values.push(value.into_owned());
        }
        Ok(Self(params))
    }

    /// The parameter `name` (its first value), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.all(name).first().map(String::as_str)
    }

    /// Every value of the parameter `name`, in order (several only for a repeatable one).
    pub fn all(&self, name: &str) -> &[String] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }

    /// The parameter `name`, or `invalid_request` naming it.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }
}

/// A parameter name fit for an error description (bounded, printable).
fn safe_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn form_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
        );
        headers
    }

    #[test]
    fn form_parsing_refuses_repeats_wrong_content_type_and_bad_utf8() {
        let ok = Params::parse(&form_headers(), b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(ok.get("a"), Some("1"));
        assert_eq!(ok.get("b"), None, "empty means absent");
        assert_eq!(ok.get("c"), Some("x y"));
        assert!(Params::parse(&form_headers(), b"a=1&a=2").is_err());
        let resources =
            Params::parse(&form_headers(), b"resource=urn%3Aa&a=1&resource=urn%3Ab").unwrap();
        assert_eq!(resources.all("resource"), ["urn:a", "urn:b"]);
        assert_eq!(resources.get("resource"), Some("urn:a"));
        assert!(resources.all("missing").is_empty());
        assert!(Params::parse(&form_headers(), b"a=%FF").is_err());
        assert!(Params::parse(&HeaderMap::new(), b"a=1").is_err());
    }
}
