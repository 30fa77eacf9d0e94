//! The service's error types and their ONE mapping to `tonic::Status`.
//!
//! Clients get a status code and a message that is safe to show; the cause (which may name
//! hosts, files or library errors) goes to the logs only.

use tonic::Status;
use zte_grpc::status;

use crate::{
    publisher::PublishError, store::StoreError, token::TokenIssueError, validate::FieldViolation,
};

/// Why the service could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// A setting is invalid (the message names it).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The client key could not be loaded or created.
    #[error("client key: {0}")]
    Key(#[from] zte_auth::KeyError),
    /// The database could not be opened.
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    /// The Kafka producer could not be created.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// An I/O error (data directory, JWK file).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The token-exchange client could not be built.
    #[error("token client: {0}")]
    TokenClient(String),
    /// The gRPC service could not be set up, or one of its tasks died.
    #[error("service: {0}")]
    Service(#[from] zte_grpc::ServiceError),
}

/// What a caller hears when its order may yet be created: the same request id finds out.
const OUTCOME_UNKNOWN: &str = "the order is not confirmed yet (Kafka did not acknowledge its \
                               event in time); retry with the same request_id to get it";

/// Why a gRPC call failed. Converted to a `Status` in [`ApiError::into_status`] only.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input; every violation names its field.
    #[error("invalid argument: {0:?}")]
    InvalidArgument(Vec<FieldViolation>),
    /// No such order for this caller (also: another user's order).
    #[error("order not found")]
    NotFound,
    /// The request id was used before with another body.
    #[error("request id already used for another order")]
    AlreadyExists,
    /// The event token could not be obtained.
    #[error("event token: {0}")]
    EventToken(#[from] TokenIssueError),
    /// The event could not be delivered to Kafka.
    #[error("publish: {0}")]
    Publish(#[from] PublishError),
    /// The database failed.
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    /// The event is in Kafka but the order could not be marked published yet (the outbox
    /// relay sends it again and marks it).
    #[error("published, not yet marked: {0}")]
    Unconfirmed(StoreError),
    /// A bug or an impossible state (details in the log).
    #[error("internal: {0}")]
    Internal(String),
}

impl From<FieldViolation> for ApiError {
    fn from(violation: FieldViolation) -> Self {
        Self::InvalidArgument(vec![violation])
    }
}

impl ApiError {
    /// The status the client sees. Logs the cause of every server-side failure.
    pub fn into_status(self) -> Status {
        match self {
            Self::InvalidArgument(violations) => {
                status::invalid_argument(violations.into_iter().map(|v| (v.field, v.description)))
            }
            Self::NotFound => Status::not_found("order not found"),
            Self::AlreadyExists => Status::already_exists(
                "this request_id was already used for an order with another body",
            ),
            Self::EventToken(error) => match error {
                TokenIssueError::Unavailable(_) => {
                    tracing::warn!(%error, "token exchange unavailable");
                    Status::unavailable("the identity service is unavailable; retry later")
                }
                TokenIssueError::Denied(_) => {
                    tracing::warn!(%error, "token exchange refused for the caller");
                    Status::permission_denied(
                        "the identity service refused to issue an event token for this caller",
                    )
                }
                TokenIssueError::Failed(_) => status::internal("token exchange", &error),
            },
            Self::Publish(error @ PublishError::NotSent(_)) => {
                tracing::warn!(%error, "event not published; order refused");
                Status::unavailable(
                    "the event could not be published to Kafka; the order was not created",
                )
            }
            Self::Publish(error @ PublishError::Unknown(_)) => {
                tracing::warn!(%error, "publish outcome unknown; the order stays in the outbox");
                Status::unavailable(OUTCOME_UNKNOWN)
            }
            Self::Unconfirmed(error) => {
                tracing::warn!(%error, "event published, order not marked yet");
                Status::unavailable(OUTCOME_UNKNOWN)
            }
            Self::Storage(error) if error.is_transient() => {
                tracing::warn!(%error, "database unavailable");
                Status::unavailable("the database is unavailable; retry later")
            }
            Self::Storage(error) => status::internal("storage", &error),
            Self::Internal(why) => status::internal("internal state", &why),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_types::StatusExt as _;

    use super::*;

    #[test]
    fn statuses_never_leak_causes() {
        let status = ApiError::Storage(StoreError::Corrupt("/secret/path".into())).into_status();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
        let status = ApiError::EventToken(TokenIssueError::Unavailable("http://10.0.0.1".into()))
            .into_status();
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains("10.0.0.1"));
        assert_eq!(
            ApiError::EventToken(TokenIssueError::Denied("x".into()))
                .into_status()
                .code(),
            Code::PermissionDenied
        );
    }

    #[test]
    fn invalid_argument_carries_bad_request_details_naming_fields() {
        let status = ApiError::InvalidArgument(vec![FieldViolation {
            field: "items[0].sku".into(),
            description: "bad".into(),
        }])
        .into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("items[0].sku"));
        let details = status.get_details_bad_request().unwrap();
        assert_eq!(details.field_violations[0].field, "items[0].sku");
    }
}
