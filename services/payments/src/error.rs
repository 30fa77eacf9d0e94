//! The service's error types and their ONE mapping to `tonic::Status`.
//!
//! Clients get a status code and a message that is safe to show; the cause (which may name
//! hosts, files or library errors) goes to the logs only.

use tonic::Status;
use zte_grpc::status;

use crate::store::StoreError;

/// Why the service could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The database could not be opened.
    #[error("payments database: {0}")]
    Store(#[from] StoreError),
    /// A Kafka client could not be created or subscribed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The gRPC service could not be set up, or one of its tasks died.
    #[error("service: {0}")]
    Service(#[from] zte_grpc::ServiceError),
}

/// Why a gRPC call failed. Converted to a `Status` in [`ApiError::into_status`] only.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request field is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No such payment for this caller.
    #[error("payment not found")]
    NotFound,
    /// The database failed.
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
}

impl ApiError {
    /// The status the client sees. Logs the cause of every server-side failure.
    pub fn into_status(self) -> Status {
        match self {
            Self::InvalidArgument { field, reason } => status::invalid_argument([(field, reason)]),
            Self::NotFound => Status::not_found("no payment for this order"),
            Self::Storage(error) if error.is_transient() => {
                tracing::warn!(%error, "payments database unavailable");
                Status::unavailable("the payments database is unavailable; retry later")
            }
            Self::Storage(error) => status::internal("payments storage", &error),
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        error.into_status()
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn each_error_has_its_status_and_no_cause_leaks() {
        let codes: Vec<(Code, bool)> = [
            ApiError::Storage(StoreError::Corrupt("/secret/path".into())),
            ApiError::NotFound,
            ApiError::InvalidArgument {
                field: "page_size",
                reason: "too big",
            },
        ]
        .into_iter()
        .map(|e| e.into_status())
        .map(|s| (s.code(), s.message().contains("secret")))
        .collect();
        assert_eq!(
            codes,
            [
                (Code::Internal, false),
                (Code::NotFound, false),
                (Code::InvalidArgument, false)
            ]
        );
        let unavailable = ApiError::Storage(StoreError::Unavailable(sqlx::Error::PoolTimedOut));
        assert_eq!(unavailable.into_status().code(), Code::Unavailable);
    }
}
