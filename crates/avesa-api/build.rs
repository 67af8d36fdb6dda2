//! Makes sure `web/dist` exists so `rust-embed` can embed it on a fresh clone: when the UI
//! has not been built, a placeholder `index.html` tells the operator how to build it.

use std::path::PathBuf;

const PLACEHOLDER: &str = "<!doctype html>
<html lang=\"en\">
  <head><meta charset=\"utf-8\"><title>AVESA</title></head>
  <body>
    <h1>AVESA</h1>
    <p>UI not built: run <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code>
    and rebuild the server.</p>
  </body>
</html>
";

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("../../web/dist");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", dist.display());
    if !dist.exists() {
        std::fs::create_dir_all(&dist)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dist.display()));
        std::fs::write(dist.join("index.html"), PLACEHOLDER)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", dist.display()));
    }
}
