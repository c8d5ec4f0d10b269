//! End to end through the `magpie` binary on the real files in `../shared`: the bad-input corpus
//! (every file indexed or listed with a reason, nothing lost, no crash or hang) and the EXIF
//! orientation cases (thumbnails upright). Skips with a message when `../shared` is absent.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use common::*;
use magpie_catalog::{Reader, ThumbKind};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn bad_inputs_are_indexed_or_reported_and_nothing_is_lost() {
    let Some(shared) = shared("bad-input corpus") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let photos = tmp.path().join("photos");
    let library = tmp.path().join("library");
    std::fs::create_dir_all(&home).unwrap();
    // Good photos first, committed before the bad ones are ever seen.
    colour_library(&photos.join("good"));
    let model = test_model("colour");
    // `magpie` runs as nobody under root (as in CI), so that the unreadable file below is
    // really unreadable; the folders it writes are handed to that user first.
    let index = |dir: &Path| {
        magpie_testkit::give_to_unprivileged_user(tmp.path());
        json(&ok(magpie_unprivileged(&home)
            .arg("index")
            .arg("--library")
            .arg(&library)
            .arg("--model")
            .arg(&model)
            .arg("--json")
            .arg(dir)))
    };
    let good = index(&photos);
    assert_eq!(good["added"], 22, "{good}");

    copy_tree(&shared.join("data/bad-inputs"), &photos.join("bad"));
    // A file that cannot be read at all, and a non-UTF-8 name.
    let unreadable = photos.join("bad/unreadable.jpg");
    std::fs::copy(photos.join("good/2023/red_1.png"), &unreadable).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
        let odd = std::ffi::OsStr::from_bytes(b"bad/caf\xe9.png");
        std::fs::copy(photos.join("good/2024/green_1.png"), photos.join(odd)).unwrap();
    }
    let summary = index(&photos);
    assert!(summary["failed"].as_u64().unwrap() > 5, "{summary}");

    // Every photo-named file under bad/ is indexed or listed as a failure with a reason — none
    // is silently dropped.
    let reader = Reader::open(&library).unwrap();
    let snapshot = reader.snapshot();
    let indexed: HashSet<PathBuf> = snapshot.all_records().into_iter().map(|r| r.path).collect();
    let errors = json(&ok(magpie(&home)
        .args(["library", "errors", "--json", "--library"])
        .arg(&library)));
    let failed: HashSet<PathBuf> = errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(!e["reason"].as_str().unwrap().is_empty(), "{e}");
            match e["path_bytes"].as_array() {
                Some(bytes) => {
                    use std::os::unix::ffi::OsStringExt;
                    let raw: Vec<u8> = bytes.iter().map(|b| b.as_u64().unwrap() as u8).collect();
                    PathBuf::from(std::ffi::OsString::from_vec(raw))
                }
                None => PathBuf::from(e["path"].as_str().unwrap()),
            }
        })
        .collect();
    let root = photos.canonicalize().unwrap();
    let mut unaccounted = Vec::new();
    for file in files_under(&root.join("bad")) {
        let name = file.file_name().unwrap().to_string_lossy().to_lowercase();
        // Files not named like a photo (README.md, icons, TGA) are not photos unless their
        // content says so; the indexer passes over them without an error.
        const PHOTO_EXTENSIONS: [&str; 12] = [
            "jpg", "jpeg", "png", "webp", "gif", "tif", "tiff", "bmp", "heic", "heif", "avif",
            "jfif",
        ];
        let extension = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_string())
            .unwrap_or_default();
        let not_an_image = !PHOTO_EXTENSIONS.contains(&extension.as_str());
        if !indexed.contains(&file) && !failed.contains(&file) && !not_an_image {
            unaccounted.push(file);
        }
    }
    assert!(
        unaccounted.is_empty(),
        "neither indexed nor reported: {unaccounted:?}"
    );
    let unreadable_reason = errors
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("bad/unreadable.jpg"))
        })
        .unwrap_or_else(|| panic!("the unreadable file is not reported: {errors}"))["reason"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(
        unreadable_reason.contains("permission"),
        "{unreadable_reason}"
    );
    // The decompression bomb is refused by its header, with the reason.
    let bomb = errors
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"].as_str().unwrap().contains("pixel"));
    assert!(bomb.is_some(), "no pixel-limit failure in {errors}");

    // Nothing already indexed was lost, and the library is consistent.
    for rel in [
        "good/2023/red_1.png",
        "good/2024/blue_2.jpg",
        "good/misc/IMG_2041.png",
    ] {
        assert!(indexed.contains(&root.join(rel)), "{rel} lost");
    }
    ok(magpie(&home)
        .args(["library", "verify", "--library"])
        .arg(&library));
    // A re-run retries nothing that is unchanged.
    let again = index(&photos);
    assert_eq!(again["added"], 0, "{again}");
    assert_eq!(again["updated"], 0, "{again}");
}

#[test]
fn thumbnails_are_upright_for_every_exif_orientation() {
    let Some(shared) = shared("EXIF orientation cases") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let library = tmp.path().join("library");
    std::fs::create_dir_all(&home).unwrap();
    let cases = shared.join("data/exif-orientation");
    let summary = json(&ok(magpie(&home)
        .arg("index")
        .arg("--library")
        .arg(&library)
        .arg("--model")
        .arg(test_model("colour"))
        .arg("--json")
        .arg(&cases)));
    assert_eq!(summary["added"], 16, "{summary}");

    let reader = Reader::open(&library).unwrap();
    let records = reader.snapshot().all_records();
    let thumb = |name: &str| {
        let record = records
            .iter()
            .find(|r| r.file_name() == name)
            .unwrap_or_else(|| panic!("{name} not indexed"));
        let path = reader.thumbnail_path(record, ThumbKind::Grid).unwrap();
        image::open(path).unwrap().to_rgb8()
    };
    for kind in ["landscape", "portrait"] {
        let upright = thumb(&format!("{kind}_1.jpg"));
        for n in 2..=8 {
            let other = thumb(&format!("{kind}_{n}.jpg"));
            assert_eq!(
                other.dimensions(),
                upright.dimensions(),
                "{kind}_{n}: thumbnail not rotated upright"
            );
            // Upright must be far closer to the orientation-1 thumbnail than any wrong turn or
            // mirror of it (the cases were re-encoded, so they never match pixel for pixel).
            let diff = mean_abs_diff(&upright, &other);
            let wrong = [
                image::imageops::flip_horizontal(&upright),
                image::imageops::flip_vertical(&upright),
                image::imageops::rotate180(&upright),
            ]
            .iter()
            .map(|w| mean_abs_diff(w, &other))
            .fold(f64::INFINITY, f64::min);
            assert!(
                diff < 0.5 * wrong,
                "{kind}_{n}: thumbnail differs from {kind}_1 by {diff:.1} per channel, a wrong orientation by {wrong:.1}"
            );
        }
    }
}

fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}

/// Resized, re-compressed, cropped and mirrored copies of real photos land in their original's
/// near-duplicate group. (The colour test model sees only colour, so two different photos with
/// the same palette may share a group too; with CLIP they would not. What must hold for any
/// model is that a photo's copies are never split from it.)
#[test]
fn near_duplicates_of_real_photos_are_grouped_with_their_originals() {
    use image::imageops::{self, FilterType};
    use image::{codecs::jpeg::JpegEncoder, DynamicImage};

    let Some(shared) = shared("real photos") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let photos = tmp.path().join("photos");
    let library = tmp.path().join("library");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&photos).unwrap();
    let mut sources: Vec<PathBuf> = files_under(&shared.join("data/photos"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
        .collect();
    sources.sort();
    const COPIES: [&str; 5] = ["orig", "small", "q40", "crop", "flip"];
    let save_jpeg = |image: &image::RgbImage, name: String, quality: u8| {
        let file = std::fs::File::create(photos.join(name)).unwrap();
        JpegEncoder::new_with_quality(std::io::BufWriter::new(file), quality)
            .encode_image(&DynamicImage::ImageRgb8(image.clone()))
            .unwrap();
    };
    let originals = 10;
    for (i, source) in sources.iter().take(originals).enumerate() {
        let photo = image::open(source).unwrap().thumbnail(1024, 1024).to_rgb8();
        let (w, h) = photo.dimensions();
        save_jpeg(&photo, format!("{i:02}_orig.jpg"), 92);
        let small = imageops::resize(&photo, w / 2, h / 2, FilterType::Triangle);
        save_jpeg(&small, format!("{i:02}_small.jpg"), 90);
        save_jpeg(&photo, format!("{i:02}_q40.jpg"), 40);
        let crop = imageops::crop_imm(&photo, w / 20, h / 20, w - w / 10, h - h / 10).to_image();
        save_jpeg(&crop, format!("{i:02}_crop.jpg"), 90);
        save_jpeg(
            &imageops::flip_horizontal(&photo),
            format!("{i:02}_flip.jpg"),
            90,
        );
    }
    ok(magpie(&home)
        .arg("index")
        .arg("--library")
        .arg(&library)
        .arg("--model")
        .arg(test_model("colour"))
        .arg(&photos));
    let groups = json(&ok(magpie(&home)
        .arg("dupes")
        .arg("--library")
        .arg(&library)
        .args(["--threshold", "0.98", "--json"])));
    let mut group_of = std::collections::HashMap::new();
    for (g, group) in groups.as_array().unwrap().iter().enumerate() {
        for member in group.as_array().unwrap() {
            let path = PathBuf::from(member["path"].as_str().unwrap());
            group_of.insert(path.file_name().unwrap().to_string_lossy().into_owned(), g);
        }
    }
    let mut pure = 0;
    for i in 0..originals {
        let family: Vec<Option<&usize>> = COPIES
            .iter()
            .map(|c| group_of.get(&format!("{i:02}_{c}.jpg")))
            .collect();
        assert!(
            family[0].is_some() && family.iter().all(|g| *g == family[0]),
            "photo {i}: copies split from the original: {family:?} (orig, small, q40, crop, flip)"
        );
        let size = groups[*family[0].unwrap()].as_array().unwrap().len();
        pure += usize::from(size == COPIES.len());
    }
    println!("{pure} of {originals} photos form a group of exactly their own copies");
}
