//! The statuses every service builds the same way. What the client sees is safe to show;
//! causes (which may name hosts, files or library errors) go to the logs only.

use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// `INVALID_ARGUMENT` naming every bad field in the message and, for clients that read them,
/// as `BadRequest` field violations in the details.
pub fn invalid_argument<F, D>(violations: impl IntoIterator<Item = (F, D)>) -> Status
where
    F: Into<String>,
    D: Into<String>,
{
    let mut details = ErrorDetails::new();
    let mut summary = Vec::new();
    for (field, description) in violations {
        let (field, description) = (field.into(), description.into());
        summary.push(format!("{field}: {description}"));
        details.add_bad_request_violation(field, description);
    }
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {}", summary.join("; ")),
        details,
    )
}

/// `INTERNAL` with a generic message; `cause` is logged with `what` failed.
pub fn internal(what: &str, cause: &dyn fmt::Display) -> Status {
    tracing::error!(%cause, "{what}");
    Status::internal("internal error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_each_field_in_message_and_details() {
        let status = invalid_argument([("items[0].sku", "bad"), ("currency", "unknown")]);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "invalid request: items[0].sku: bad; currency: unknown"
        );
        let details = status.get_details_bad_request().unwrap();
        assert_eq!(details.field_violations[1].field, "currency");
    }

    #[test]
    fn internal_never_shows_the_cause() {
        let status = internal("storage failed", &"/secret/path");
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }
}
