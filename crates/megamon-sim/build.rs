//! Compiles the vendored Kubernetes `.proto` files (`proto/`) into a descriptor set
//! that `src/protobuf.rs` decodes request bodies with.

use prost::Message;

const FILES: &[&str] = &[
    "api/core/v1/generated.proto",
    "api/apps/v1/generated.proto",
    "api/batch/v1/generated.proto",
    "api/coordination/v1/generated.proto",
    "api/rbac/v1/generated.proto",
    "api/authentication/v1/generated.proto",
    "api/authorization/v1/generated.proto",
    "api/events/v1/generated.proto",
    "api/policy/v1/generated.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let mut compiler = protox::Compiler::new(["proto"])?;
    // Names and numbers are all decoding needs; no comments or source positions.
    compiler.include_source_info(false);
    compiler.include_imports(true);
    compiler.open_files(FILES)?;
    let set = compiler.file_descriptor_set();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("kubernetes.fds");
    std::fs::write(out, set.encode_to_vec())?;
    Ok(())
}
