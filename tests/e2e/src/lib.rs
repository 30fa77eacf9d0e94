//! Runs the real system for end-to-end tests, the demo and the flow benchmark: the three
//! service binaries as child processes on free loopback ports, each with its own data
//! directory and log file, against a real Kafka broker, with random topic and group names.
//!
//! | module | what |
//! |---|---|
//! | [`binaries`] | the service binaries, built by Cargo when not current |
//! | [`process`] | one binary as a child process: logs, SIGKILL, SIGTERM, restart |
//! | [`stack`] | the three services of one stack: config, start, health, clients |
//! | [`broker`] | a private Kafka broker a fault test may stop and restart |
//!
//! The gRPC clients, token forgers and Kafka helpers the tests use come from the test kit
//! (`zte_testkit`), shared with the services' own integration tests. Everything started here
//! is stopped when the [`Stack`] (or a [`ServiceProcess`], a [`PrivateBroker`]) is dropped,
//! also when a test fails.

pub mod binaries;
pub mod broker;
pub mod process;
pub mod stack;

pub use binaries::binary;
pub use broker::PrivateBroker;
pub use process::ServiceProcess;
pub use stack::{Stack, StackConfig};
