//! Model directory detection and validation: each layout loads into the right spec, and broken
//! directories give errors that name the file and the problem.

mod common;

use std::path::Path;

use magpie_models::model_dir::IdsType;
use magpie_models::{ClipModel, Device, Family, ImageEncoder, Layout, ModelSpec};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("lists").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copies");
        }
    }
}

#[test]
fn layouts_are_detected() {
    let hf = ModelSpec::load(&common::test_model("tiny-hf")).expect("tiny-hf");
    assert_eq!(hf.layout, Layout::HuggingFace);
    assert_eq!(
        (hf.image.preprocess.size, hf.text.context_length, hf.family),
        (64, 77, Family::Clip)
    );
    assert_eq!(hf.text.pad_id, hf.text.eot_id, "CLIP pads with end-of-text");

    let immich = ModelSpec::load(&common::test_model("tiny-immich")).expect("tiny-immich");
    assert_eq!(immich.layout, Layout::Immich);
    // Names and id types are read from the graphs themselves.
    common::init_runtime();
    let model = ClipModel::open(&immich, &common::cpu()).expect("tiny-immich opens");
    assert_eq!(model.image.input().0, "image");
    assert_eq!(model.text.inputs().0, ("text", IdsType::Int32));
    assert_eq!(model.text.inputs().1, None);

    let colour = ModelSpec::load(&common::test_model("colour")).expect("colour");
    assert_eq!(
        (colour.layout, colour.name.as_str(), colour.declared_dim),
        (Layout::Manifest, "colour", Some(16))
    );
}

#[test]
fn missing_files_are_named() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("colour");
    copy_dir(&common::test_model("colour"), &dir);
    std::fs::remove_file(dir.join("text.onnx")).expect("removes");
    let message = ModelSpec::load(&dir)
        .expect_err("missing tower")
        .to_string();
    assert!(
        message.contains("text.onnx") && message.contains("missing"),
        "{message}"
    );

    let hf = temp.path().join("hf");
    copy_dir(&common::test_model("tiny-hf"), &hf);
    std::fs::remove_file(hf.join("tokenizer.json")).expect("removes");
    let message = ModelSpec::load(&hf)
        .expect_err("missing tokenizer")
        .to_string();
    assert!(message.contains("tokenizer.json"), "{message}");

    std::fs::write(hf.join("preprocessor_config.json"), "{ not json").expect("writes");
    let message = ModelSpec::load(&hf).expect_err("bad json").to_string();
    assert!(
        message.contains("preprocessor_config.json") && message.contains("JSON"),
        "{message}"
    );

    let message = ModelSpec::load(temp.path())
        .expect_err("not a model")
        .to_string();
    assert!(message.contains("not a CLIP model directory"), "{message}");
}

#[test]
fn wrong_input_name_is_reported_with_the_real_inputs() {
    common::init_runtime();
    let temp = tempfile::tempdir().expect("tempdir");
    copy_dir(&common::test_model("colour"), temp.path());
    let manifest = temp.path().join("magpie-model.toml");
    let text = std::fs::read_to_string(&manifest).expect("reads");
    std::fs::write(
        &manifest,
        text.replacen("input = \"pixel_values\"", "input = \"pixels\"", 1),
    )
    .expect("writes");
    let spec = ModelSpec::load(temp.path()).expect("manifest still parses");
    let message = ImageEncoder::open(&spec, &common::cpu())
        .expect_err("wrong input")
        .to_string();
    assert!(
        message.contains("image.onnx")
            && message.contains("`pixels`")
            && message.contains("pixel_values"),
        "{message}"
    );

    // A manifest that declares the wrong id type is told so.
    std::fs::write(
        &manifest,
        text.replacen(
            "input_ids_type = \"int64\"",
            "input_ids_type = \"int32\"",
            1,
        ),
    )
    .expect("writes");
    let spec = ModelSpec::load(temp.path()).expect("parses");
    let message = magpie_models::TextEncoder::open(&spec, &common::cpu())
        .expect_err("wrong type")
        .to_string();
    assert!(
        message.contains("text.onnx") && message.contains("int32"),
        "{message}"
    );
}

#[test]
fn towers_with_different_dimensions_are_refused() {
    common::init_runtime();
    let temp = tempfile::tempdir().expect("tempdir");
    copy_dir(&common::test_model("tiny-hf"), temp.path());
    // The colour text tower (16-d, same input names) in place of tiny-hf's (32-d).
    std::fs::copy(
        common::test_model("colour").join("text.onnx"),
        temp.path().join("onnx/text_model.onnx"),
    )
    .expect("copies");
    let message = ClipModel::open_dir(temp.path(), &common::cpu())
        .expect_err("dims differ")
        .to_string();
    assert!(
        message.contains("disagree")
            && message.contains("vision_model.onnx")
            && message.contains("text_model.onnx"),
        "{message}"
    );
    assert!(
        message.contains("32") && message.contains("16"),
        "{message}"
    );
}

#[test]
fn devices_parse_and_explicit_gpu_without_provider_fails() {
    assert_eq!("auto".parse::<Device>().expect("auto"), Device::Auto);
    assert_eq!("CPU".parse::<Device>().expect("cpu"), Device::Cpu);
    assert_eq!("cuda".parse::<Device>().expect("cuda"), Device::Cuda(0));
    assert_eq!("cuda:1".parse::<Device>().expect("cuda:1"), Device::Cuda(1));
    assert_eq!(
        "tensorrt:2".parse::<Device>().expect("trt"),
        Device::TensorRt(2)
    );
    assert!("cuda:x".parse::<Device>().is_err());
    assert!("metal".parse::<Device>().is_err());

    let info = common::init_runtime();
    let spec = ModelSpec::load(&common::test_model("colour")).expect("loads");
    let auto = magpie_models::SessionConfig {
        device: Device::Auto,
        ..common::cpu()
    };
    let encoder = ImageEncoder::open(&spec, &auto).expect("auto always opens");
    let report = encoder.provider_report();
    if !info
        .available_providers
        .iter()
        .any(|p| p == "CUDAExecutionProvider")
    {
        // CPU-only ONNX Runtime: auto falls back and says why.
        assert_eq!(report.active, magpie_models::Provider::Cpu);
        assert_eq!(report.failed.len(), 2, "{report}");
        let cuda = magpie_models::SessionConfig {
            device: Device::Cuda(0),
            ..common::cpu()
        };
        let message = ImageEncoder::open(&spec, &cuda)
            .expect_err("no CUDA")
            .to_string();
        assert!(
            message.contains("CUDAExecutionProvider") && message.contains("image.onnx"),
            "{message}"
        );
    } else {
        println!("CUDA build of ONNX Runtime: auto chose {}", report.active);
    }
}
