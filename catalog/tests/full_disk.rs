//! A full disk is a clear error, never a panic, and loses nothing already committed.
//!
//! The library lives on a small tmpfs mounted for the test. As root (the project's machines and
//! CI) the test mounts it itself; as an ordinary user it re-runs itself inside a private user and
//! mount namespace (`unshare --map-root-user --mount`), where it may mount. A machine allowing
//! neither fails the test with both reasons: a full-disk test that silently passes proves nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use magpie_catalog::{Change, ImageRecord, ModelIdentity, Reader, Writer, WriterOptions};

const DIM: usize = 64;

fn model() -> ModelIdentity {
    ModelIdentity {
        name: "test".into(),
        checksum: "full-disk".into(),
        dim: DIM,
    }
}

fn record(id: u64) -> ImageRecord {
    ImageRecord {
        id,
        // Long paths make every record big, so the disk fills in few commits.
        path: PathBuf::from(format!(
            "/photos/{}/{id}.jpg",
            "long-folder-name/".repeat(20)
        )),
        size: id,
        mtime_ns: id as i64,
        content_hash: format!("{id:064x}"),
        width: 640,
        height: 480,
        format: "jpeg".into(),
        exif: Default::default(),
        tags: vec!["tag ".repeat(50)],
        indexed_at: 0,
        text: None,
    }
}

fn vector(id: u64) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIM)
        .map(|i| ((id * 31 + i as u64) % 17) as f32 + 1.0)
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// A tmpfs of `size` at `dir`, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if output.status.success() {
            Ok(Self(dir.to_path_buf()))
        } else {
            Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

/// Set in the copy of this test that runs inside a private namespace.
const IN_NAMESPACE: &str = "MAGPIE_FULL_DISK_IN_NAMESPACE";

/// Runs this very test again inside `unshare --map-root-user --mount`, where mounting a tmpfs is
/// allowed to an ordinary user, and fails this test if that copy fails or cannot start.
fn rerun_in_namespace(mount_error: &str) {
    let test = "a_full_disk_is_an_error_and_loses_nothing_committed";
    let output = Command::new("unshare")
        .args(["--map-root-user", "--mount", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(IN_NAMESPACE, "1")
        .output()
        .unwrap_or_else(|e| panic!("{mount_error}; and cannot run unshare: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{mount_error}; the run in a private namespace failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    println!("ran in a private mount namespace:\n{stdout}");
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_an_error_and_loses_nothing_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = match SmallDisk::mount(&tmp.path().join("disk"), "6m") {
        Ok(disk) => disk,
        Err(e) if std::env::var_os(IN_NAMESPACE).is_none() => return rerun_in_namespace(&e),
        Err(e) => panic!("{e} (inside a private mount namespace)"),
    };
    let dir = disk.0.join("library");
    // Space to give back once the disk is full, as a user would by deleting something.
    std::fs::write(disk.0.join("filler"), vec![0u8; 2 << 20]).unwrap();
    let mut writer = Writer::open(&dir, &model(), &WriterOptions::default()).unwrap();
    let mut committed = Vec::new();
    let mut error = None;
    for _ in 0..2000 {
        let ids: Vec<u64> = (0..20).map(|_| writer.allocate_id()).collect();
        let changes = ids
            .iter()
            .map(|&id| Change::Upsert {
                record: record(id),
                embedding: vector(id),
            })
            .collect();
        match writer.commit(changes) {
            Ok(_) => committed.extend(ids),
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let error = error.expect("the 6 MB disk never filled up");
    println!(
        "full disk after {} committed images: {error}",
        committed.len()
    );
    assert!(!committed.is_empty(), "not even one commit fitted");
    assert!(
        error.contains(&disk.0.display().to_string()),
        "the error names no file: {error}"
    );
    drop(writer);

    // A reader either sees the last consistent state or says clearly what to do (the commit
    // that hit the full disk may have reached sled and the keyword index but not the vectors).
    match Reader::open(&dir) {
        Ok(reader) => {
            let snapshot = reader.snapshot();
            for id in &committed {
                assert!(snapshot.get(*id).is_some(), "committed image {id} lost");
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains(&dir.display().to_string()) && message.contains("rebuild"),
                "unclear reader error after a full disk: {message}"
            );
        }
    }
    // Once space is freed, the writer reopens, repairs the derived stores from sled, and every
    // committed image is there, in every store.
    std::fs::remove_file(disk.0.join("filler")).unwrap();
    let writer = Writer::open(&dir, &model(), &WriterOptions::default())
        .expect("the writer reopens after a full disk");
    let report = writer.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert!(report.records >= committed.len(), "{report:?}");
    drop(writer);
    let reader = Reader::open(&dir).expect("a reader opens the repaired library");
    let snapshot = reader.snapshot();
    for id in &committed {
        assert!(snapshot.get(*id).is_some(), "committed image {id} lost");
        assert!(
            snapshot.embedding(*id).is_some(),
            "vector of image {id} lost"
        );
    }
}
