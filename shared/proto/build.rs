//! Generates the protobuf/gRPC code with a vendored `protoc`, so no system install is needed,
//! and writes the file descriptor set that gRPC reflection serves.

use std::{env, error::Error, path::PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let include = protoc_bin_vendored::include_path()?;
    // SAFETY-free: build scripts are single-threaded; prost-build reads PROTOC from the env.
    // (set_var is `unsafe` in edition 2024, so pass the path through the builder instead.)
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        proto_root.join("events/v1/events.proto"),
        proto_root.join("orders/v1/orders.proto"),
        proto_root.join("payments/v1/payments.proto"),
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("descriptor.bin"))
        .compile_with_config(config, &files, &[proto_root, include])?;
    Ok(())
}
