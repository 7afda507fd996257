//! Empty: the benchmark is `pure_path.rs` (a `[[bench]]` target of this crate).
