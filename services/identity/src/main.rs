//! The identity service binary (implementation lands with its issue).

fn main() {}
