//! Generates include/usocket.h from the Rust source with cbindgen.
//!
//! The header is always written to $OUT_DIR/usocket.h; tests/header.rs fails
//! when the committed include/usocket.h differs from it. The committed copy
//! is (re)written only when it is missing or USOCKET_UPDATE_HEADER is set
//! (`make header`), so a stale committed header cannot pass unnoticed.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=USOCKET_UPDATE_HEADER");
    // A versioned soname, so `make install` can ship libusocket.so.0.
    let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libusocket.so.{major}");
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = match cbindgen::Builder::new().with_crate(&crate_dir).with_config(config).generate() {
        Ok(b) => b,
        Err(e) => {
            // Let rustc report the real error in the source.
            println!("cargo:warning=cbindgen could not parse the crate: {e}");
            return;
        }
    };
    let generated = out_dir.join("usocket.h");
    bindings.write_to_file(&generated);
    let committed = crate_dir.join("include").join("usocket.h");
    if !committed.exists() || env::var_os("USOCKET_UPDATE_HEADER").is_some() {
        std::fs::create_dir_all(committed.parent().unwrap()).unwrap();
        std::fs::copy(&generated, &committed).expect("writing include/usocket.h");
    }
}
