//! Embeds a policy into the component at build time when
//! `CORS_GATEWAY_POLICY` names one (a JSON policy or a compiled one, relative
//! to this directory): `CORS_GATEWAY_POLICY=policies/policy.json cargo build
//! ...`, as spin.toml's build command does. A fresh instance then reads no
//! file at all. The policy is validated by the component like any other (an
//! invalid one answers 503 and says why), and `cors-gateway check` checks it
//! before the build.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=CORS_GATEWAY_POLICY");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let (name, bytes) = match std::env::var("CORS_GATEWAY_POLICY") {
        Ok(path) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={path}");
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("CORS_GATEWAY_POLICY={path}: cannot read it: {e}"));
            (path, bytes)
        }
        _ => (String::new(), Vec::new()),
    };
    std::fs::write(out.join("embedded-policy"), bytes).expect("write embedded-policy");
    std::fs::write(out.join("embedded-policy-name"), name).expect("write embedded-policy-name");
}
