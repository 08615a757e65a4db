//! Build script: rebuild when anything under `assets/` changes, because rust-embed compiles
//! those files into the binary and cargo cannot see a newly added file on its own.

fn main() {
    println!("cargo:rerun-if-changed=assets");
    println!("cargo:rerun-if-changed=build.rs");
}
