//! The portable build must run on any WASI 0.2 HTTP host: it imports no Spin
//! interface. The Spin builds (WASI 0.2 and 0.3) import exactly the Spin
//! interfaces they use.

use spin_test_host::import_names;

fn spin_specific(name: &str) -> bool {
    name.starts_with("fermyon:") || name.starts_with("spin:")
}

#[test]
fn portable_build_imports_no_spin_interface() {
    let imports = import_names(&testkit::wasm(&[])).expect("portable component loads");
    assert!(
        imports.iter().any(|n| n.starts_with("wasi:http/")),
        "{imports:?}"
    );
    let spin: Vec<_> = imports.iter().filter(|n| spin_specific(n)).collect();
    assert!(spin.is_empty(), "the portable build imports {spin:?}");
}

#[test]
fn spin_build_imports_only_key_value_and_variables() {
    spin_imports(&["spin"]);
}

#[test]
fn the_wasi_03_spin_build_imports_the_same_spin_interfaces_and_the_03_client() {
    let imports = spin_imports(&["spin", "p3"]);
    assert!(
        imports.iter().any(|n| n == "wasi:http/client@0.3.0"),
        "{imports:?}"
    );
}

/// Checks that the build with `features` imports exactly key-value and
/// variables of Spin's interfaces; returns all its imports.
fn spin_imports(features: &[&str]) -> Vec<String> {
    let imports = import_names(&testkit::wasm(features)).expect("Spin component loads");
    let mut spin: Vec<_> = imports
        .iter()
        .filter(|n| spin_specific(n))
        .cloned()
        .collect();
    spin.sort();
    assert_eq!(
        spin,
        [
            "fermyon:spin/key-value@2.0.0",
            "fermyon:spin/variables@2.0.0"
        ],
        "all imports: {imports:?}"
    );
    imports
}
