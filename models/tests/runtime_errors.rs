//! ONNX Runtime discovery errors. Its own test binary: runtime initialisation is once per
//! process, and these cases must run before any successful initialisation.

mod common;

use std::path::PathBuf;

use magpie_models::runtime::{self, RuntimeOptions};
use magpie_models::Error;

fn init_with(path: PathBuf) -> Result<&'static magpie_models::RuntimeInfo, Error> {
    runtime::init(&RuntimeOptions {
        explicit: Some(path),
        config: None,
    })
}

#[test]
fn bogus_libraries_give_clear_errors_then_a_good_one_loads() {
    let temp = tempfile::tempdir().expect("tempdir");

    let missing =
        init_with(temp.path().join("no-such-libonnxruntime.so")).expect_err("missing file");
    let message = missing.to_string();
    assert!(matches!(missing, Error::RuntimeLibrary { .. }), "{message}");
    assert!(
        message.contains("no-such-libonnxruntime.so") && message.contains("--ort-lib"),
        "{message}"
    );

    let not_a_library = temp.path().join("libonnxruntime.so.1.31.1");
    std::fs::write(&not_a_library, b"this is not an ELF file").expect("writes");
    let message = init_with(not_a_library.clone())
        .expect_err("not a library")
        .to_string();
    assert!(
        message.contains("not a loadable shared library"),
        "{message}"
    );
    assert!(
        message.contains(&not_a_library.display().to_string()),
        "{message}"
    );

    let empty_dir = temp.path().join("empty");
    std::fs::create_dir(&empty_dir).expect("mkdir");
    let message = init_with(empty_dir)
        .expect_err("no library in folder")
        .to_string();
    assert!(message.contains("holds no libonnxruntime.so"), "{message}");

    // A real shared library that is not ONNX Runtime.
    if let Some(libc) = [
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    {
        let message = init_with(libc).expect_err("not ONNX Runtime").to_string();
        assert!(message.contains("not ONNX Runtime"), "{message}");
    }
    assert!(
        runtime::current().is_none(),
        "failed attempts leave nothing behind"
    );

    // After failures, the real library still loads.
    let info = common::init_runtime();
    assert!(info.version.starts_with("1."), "{}", info.version);
    assert!(info
        .available_providers
        .iter()
        .any(|p| p == "CPUExecutionProvider"));
}
