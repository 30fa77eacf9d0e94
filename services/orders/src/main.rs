//! The orders service binary (implementation lands with its issue).

fn main() {}
