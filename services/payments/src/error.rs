//! The service's error types and their ONE mapping to `tonic::Status`.
//!
//! Clients get a status code and a message that is safe to show; the cause (which may name
//! hosts, files or library errors) goes to the logs only.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

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
    /// The gRPC server could not be set up (listener, reflection, token validator).
    #[error("gRPC server: {0}")]
    Server(#[from] zte_grpc::ServerError),
    /// A task that had to run until shutdown (the consumer, the gRPC server) died.
    #[error("task {0}")]
    Task(#[from] zte_runtime::TaskFailed),
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
            Self::InvalidArgument { field, reason } => Status::with_error_details(
                Code::InvalidArgument,
                format!("invalid {field}: {reason}"),
                ErrorDetails::with_bad_request_violation(field, reason),
            ),
            Self::NotFound => Status::not_found("no payment for this order"),
            Self::Storage(error) => {
                tracing::error!(%error, "payments storage failed");
                Status::internal("internal error")
            }
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
    use super::*;

    #[test]
    fn statuses_never_leak_causes_and_name_bad_fields() {
        let status = ApiError::Storage(StoreError::Task("/secret/path".into())).into_status();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
        let status = ApiError::InvalidArgument {
            field: "page_size",
            reason: "too big",
        }
        .into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_details_bad_request().unwrap();
        assert_eq!(details.field_violations[0].field, "page_size");
        assert_eq!(ApiError::NotFound.into_status().code(), Code::NotFound);
    }
}
