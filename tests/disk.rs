//! The files the course writes when things go wrong around them: a disk
//! that fills up part way through a save or a checkpoint (the previous file
//! stays whole and the error says why), and two fits sharing one checkpoint
//! folder (the second is refused while the first trains; a lock left by a
//! process that is gone is taken over).

mod common;

use autoencoders::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data(n: usize) -> Tensor {
    Tensor::rand(0f32, 1f32, (n, 784), &Device::Cpu).unwrap()
}

fn model(seed: u64) -> Autoencoder {
    let dev = Device::Cpu;
    Autoencoder::new(
        Sequential::input(&[784], &dev)
            .seed(seed)
            .add(dense(16).relu())
            .unwrap(),
        Sequential::input(&[16], &dev)
            .seed(seed)
            .add(dense(784).sigmoid())
            .unwrap(),
    )
    .unwrap()
}

fn cfg(epochs: usize) -> TrainConfig {
    TrainConfig::default().with_epochs(epochs).with_batch_size(64).quiet()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("autoencoders-disk-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small tmpfs mounted for one test (needs root: CI's machine runs the
/// tests as root), unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(name: &str, kib: usize) -> Option<SmallDisk> {
        let dir = scratch(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        common::have(ok, "mounting a small tmpfs needs root (mount -t tmpfs)").then_some(SmallDisk(dir))
    }

    /// Writes zeros until the disk is full; returns the filler's path.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// No temporary file of a failed write is left in `dir`.
fn no_leftovers(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        assert!(!name.contains(".part"), "a temporary file was left: {name}");
    }
}

#[test]
fn a_save_on_a_full_disk_fails_and_leaves_the_previous_file_whole() {
    let Some(disk) = SmallDisk::mount("save", 512) else {
        return;
    };
    let path = disk.0.join("model.safetensors");
    model(1).save(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let filler = disk.fill();
    let err = model(2).save(&path).unwrap_err();
    assert!(matches!(err, Error::WriteFailed { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("model.safetensors was not written") && msg.contains("No space left") && msg.contains("unchanged"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "the previous file changed");
    no_leftovers(&disk.0);
    // With room again the save goes through, and the file loads.
    std::fs::remove_file(filler).unwrap();
    model(2).save(&path).unwrap();
    model(3).load(&path).unwrap();
}

#[test]
fn a_checkpoint_on_a_full_disk_fails_and_the_previous_one_resumes() {
    let Some(disk) = SmallDisk::mount("checkpoint", 1024) else {
        return;
    };
    let dir = disk.0.join("ck");
    let xs = data(256);
    fit(&model(1), &xs, &xs, None, &cfg(1).with_checkpoints(&dir, 1)).unwrap();
    let filler = disk.fill();
    let err = fit(&model(1), &xs, &xs, None, &cfg(2).with_checkpoints(&dir, 1)).unwrap_err();
    assert!(err.to_string().contains("was not written"), "{err}");
    no_leftovers(&dir);
    std::fs::remove_file(filler).unwrap();
    let h = fit(&model(1), &xs, &xs, None, &cfg(2).with_checkpoints(&dir, 1)).unwrap();
    assert_eq!(
        h.loss.len(),
        2,
        "resumed after epoch 1 and trained epoch 2: {:?}",
        h.loss
    );
    assert!(!dir.join("LOCK").exists(), "the lock is released");
}

#[test]
fn a_checkpoint_folder_in_use_by_another_process_is_refused_until_it_ends() {
    let dir = scratch("lock");
    let xs = data(128);
    let mut other = Command::new("sleep").arg("60").spawn().unwrap();
    std::fs::write(dir.join("LOCK"), other.id().to_string()).unwrap();
    let err = fit(&model(1), &xs, &xs, None, &cfg(1).with_checkpoints(&dir, 1)).unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("is in use") && msg.contains(&format!("process {}", other.id())) && msg.contains("delete"),
        "{msg}"
    );
    assert!(!dir.join("checkpoint.json").exists(), "nothing was written");
    // The other process ends without releasing its lock: the lock is taken over.
    other.kill().unwrap();
    other.wait().unwrap();
    fit(&model(1), &xs, &xs, None, &cfg(1).with_checkpoints(&dir, 1)).unwrap();
    assert!(dir.join("checkpoint.json").exists() && !dir.join("LOCK").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_fits_of_one_kernel_on_one_checkpoint_folder_do_not_interleave() {
    let dir = scratch("threads");
    let xs = data(64 * 40);
    let first = {
        let (dir, xs) = (dir.clone(), xs.clone());
        std::thread::spawn(move || fit(&model(1), &xs, &xs, None, &cfg(100).with_checkpoints(&dir, 1)))
    };
    while !dir.join("LOCK").exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let err = fit(&model(2), &xs, &xs, None, &cfg(30).with_checkpoints(&dir, 1)).unwrap_err();
    assert!(err.to_string().contains("in this kernel"), "{err}");
    let h = first.join().unwrap().unwrap();
    assert_eq!(h.loss.len(), 100);
    let _ = std::fs::remove_dir_all(&dir);
}
