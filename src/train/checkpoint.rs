//! Checkpoints of [`super::fit`]: every few epochs the weights, the
//! optimiser's state and the [`History`] go into a folder, and a `fit` of
//! the same model with the same settings resumes from there, so that a cell
//! run again after a stop (or in a new kernel, with the model built the same
//! way) trains on instead of starting over, and ends with the weights an
//! uninterrupted run would have.
//!
//! The folder holds `weights-E.safetensors`, `optimizer-E.safetensors`
//! (E: epochs done) and `checkpoint.json`, written last and atomically,
//! which names them; older files are removed after it. A stop at any moment,
//! or a save that fails (a full disk), leaves the previous checkpoint whole.
//! A `fit` holds the folder's `LOCK` while it trains: a second `fit` on the
//! same folder, from another kernel, is refused.

use super::hooks::{Begin, EpochEnd, Hook};
use super::{History, TrainConfig, Trainer};
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::nn::Model;
use candle_core::{DType, Device, Tensor};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where and how often [`super::fit`] saves checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoints {
    pub dir: PathBuf,
    /// Save after every this many epochs (and after the last one).
    pub every: usize,
}

const INDEX: &str = "checkpoint.json";

/// What a checkpoint must share with the `fit` that resumes it, checked in
/// this order: the mode, the data (sizes and sums of inputs, targets and
/// validation pairs) and the settings that shape training.
const SHARED: [&str; 9] = [
    "mode",
    "samples",
    "data",
    "validation",
    "batch_size",
    "shuffle",
    "seed",
    "loss",
    "optimizer",
];

/// The data of one `fit`, as a checkpoint records it.
pub(crate) struct DataKey {
    samples: usize,
    sums: String,
    validation: String,
}

/// The sum of a tensor's values, to recognise data again.
fn sum(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?)
}

impl DataKey {
    pub(crate) fn new(xs: &Tensor, ys: &Tensor, validation: Option<&(Tensor, Tensor)>) -> Result<Self> {
        Ok(DataKey {
            samples: xs.dim(0)?,
            sums: format!("inputs {:.9e}, targets {:.9e}", sum(xs)?, sum(ys)?),
            validation: match validation {
                Some((vx, vy)) => format!("{} pairs, sums {:.9e} {:.9e}", vx.dim(0)?, sum(vx)?, sum(vy)?),
                None => "none".to_string(),
            },
        })
    }
}

fn settings(cfg: &TrainConfig, data: &DataKey) -> Value {
    json!({
        "mode": if crate::runtime::mode().is_quick() { "quick (AUTOENCODERS_QUICK)" } else { "full" },
        "samples": data.samples,
        "data": data.sums,
        "validation": data.validation,
        "batch_size": cfg.batch_size,
        "shuffle": cfg.shuffle,
        "seed": cfg.seed,
        "loss": cfg.loss.name(),
        "optimizer": serde_json::to_value(cfg.optimizer).unwrap_or(Value::Null),
    })
}

/// Saves the state after `epochs_done` epochs.
pub(crate) fn save(
    ck: &Checkpoints,
    model: &dyn Model,
    trainer: &Trainer,
    cfg: &TrainConfig,
    data: &DataKey,
    epochs_done: usize,
    history: &History,
) -> Result<()> {
    let dir = &ck.dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let (weights, optimizer) = (
        format!("weights-{epochs_done}.safetensors"),
        format!("optimizer-{epochs_done}.safetensors"),
    );
    crate::nn::save_weights(model, dir.join(&weights))?;
    let state = safetensors::serialize(trainer.opt.state()?, None)
        .map_err(|e| Error::invalid(format!("{}: {e}", dir.join(&optimizer).display())))?;
    write_atomic(dir.join(&optimizer), &state)?;
    let index = json!({
        "epochs_done": epochs_done,
        "steps": trainer.steps,
        "weights": weights,
        "optimizer": optimizer,
        "settings": settings(cfg, data),
        "history": serde_json::to_value(history).unwrap_or(Value::Null),
    });
    write_atomic(dir.join(INDEX), index.to_string().as_bytes())?;
    // The index now names the new files: the older ones can go.
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let ours = name.starts_with("weights-") || name.starts_with("optimizer-");
        if ours && name.ends_with(".safetensors") && name != weights && name != optimizer {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// What a checkpoint gave back.
pub(crate) struct Resumed {
    pub epochs_done: usize,
    pub history: History,
}

fn unreadable(path: &Path, what: &str) -> Error {
    Error::bad_file(format!(
        "{} is not a checkpoint this course wrote ({what}); delete its folder to start training afresh",
        path.display()
    ))
}

/// Loads the checkpoint in `ck.dir`, if there is one, into `model` and
/// `trainer`. Settings that differ from the checkpoint's are an error naming
/// them; nothing of the model changes then.
pub(crate) fn resume(
    ck: &Checkpoints,
    model: &dyn Model,
    trainer: &mut Trainer,
    cfg: &TrainConfig,
    data: &DataKey,
    epochs: usize,
) -> Result<Option<Resumed>> {
    let path = ck.dir.join(INDEX);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let index: Value = serde_json::from_str(&text).map_err(|e| unreadable(&path, &e.to_string()))?;
    let saved = index.get("settings").ok_or_else(|| unreadable(&path, "no settings"))?;
    let now = settings(cfg, data);
    for key in SHARED {
        let (was, is) = (saved.get(key).unwrap_or(&Value::Null), &now[key]);
        if was != is {
            return Err(Error::refused(format!(
                "the checkpoint in {} was made with {key} = {was}, this fit has {key} = {is}: use the same data and settings to resume, \
                 or another folder (or delete this one) to start afresh",
                ck.dir.display()
            )));
        }
    }
    let field = |key: &str| index.get(key).ok_or_else(|| unreadable(&path, &format!("no {key}")));
    let epochs_done = field("epochs_done")?
        .as_u64()
        .ok_or_else(|| unreadable(&path, "epochs_done"))? as usize;
    let steps = field("steps")?.as_u64().ok_or_else(|| unreadable(&path, "steps"))?;
    let file =
        |key: &str| -> Result<PathBuf> { Ok(ck.dir.join(field(key)?.as_str().ok_or_else(|| unreadable(&path, key))?)) };
    if epochs_done > epochs {
        return Err(Error::refused(format!(
            "the checkpoint in {} holds {epochs_done} epochs, more than the {epochs} this fit runs: ask for at least {epochs_done} epochs, \
             or use another folder (or delete this one) to train {epochs} from the start",
            ck.dir.display()
        )));
    }
    let history: History =
        serde_json::from_value(field("history")?.clone()).map_err(|e| unreadable(&path, &format!("history: {e}")))?;
    let (opt_path, weights_path) = (file("optimizer")?, file("weights")?);
    for p in [&opt_path, &weights_path] {
        if !p.is_file() {
            return Err(unreadable(&path, &format!("{} is missing", p.display())));
        }
    }
    let state: HashMap<String, Tensor> =
        candle_core::safetensors::load(&opt_path, &Device::Cpu).map_err(|e| unreadable(&opt_path, &e.to_string()))?;
    // The optimiser checks every entry before it changes; the model checks
    // every name and shape before it loads a weight.
    trainer.opt.load_state(&state)?;
    crate::nn::load_weights(model, &weights_path)?;
    trainer.steps = steps;
    Ok(Some(Resumed { epochs_done, history }))
}

/// The lock a `fit` holds on its checkpoint folder while it trains: the file
/// `LOCK`, made with `create_new`, holding the process id. Another `fit`
/// (another kernel of the same student, say) that finds it refuses to start
/// instead of interleaving its files with the first one's; a lock whose
/// process is gone is taken over. Released when the `fit` ends.
struct FolderLock {
    dir: PathBuf,
}

const LOCK: &str = "LOCK";

/// The checkpoint folders this process holds (two fits of one kernel, in
/// two threads, have the same process id).
static HELD: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Whether process `pid` runs. Where there is no `/proc` (macOS), every lock
/// counts as held: the refusal says how to remove a stale one.
fn alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

impl FolderLock {
    fn take(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let dir = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        let path = dir.join(LOCK);
        let busy = |holder: String| {
            Error::refused(format!(
                "{} is in use: another fit ({holder}) is training with checkpoints there. Let it finish, or give this fit \
                 another folder; if no other notebook is training, delete {}",
                dir.display(),
                path.display()
            ))
        };
        if held.contains(&dir) {
            return Err(busy("in this kernel".to_string()));
        }
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    use std::io::Write;
                    let _ = write!(f, "{}", std::process::id());
                    held.push(dir.clone());
                    return Ok(FolderLock { dir });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    if let Some(pid) = pid.filter(|&p| p != std::process::id() && alive(p)) {
                        return Err(busy(format!("process {pid}")));
                    }
                    // Left by a process that is gone: take it over.
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Err(busy("a process that keeps taking the lock".to_string()))
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join(LOCK));
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        held.retain(|d| d != &self.dir);
    }
}

/// Checkpoints as a hook of `fit`: resumes before the first epoch, saves
/// after every `every` complete epochs (and after the last), and tells the
/// stop notice what running the fit again will do.
pub(crate) struct CheckpointHook {
    ck: Checkpoints,
    cfg: TrainConfig,
    data: DataKey,
    last_saved: Option<usize>,
    _lock: FolderLock,
}

impl CheckpointHook {
    pub(crate) fn new(
        ck: &Checkpoints,
        cfg: &TrainConfig,
        xs: &Tensor,
        ys: &Tensor,
        validation: Option<&(Tensor, Tensor)>,
    ) -> Result<Self> {
        Ok(CheckpointHook {
            ck: ck.clone(),
            cfg: cfg.clone(),
            data: DataKey::new(xs, ys, validation)?,
            last_saved: None,
            _lock: FolderLock::take(&ck.dir)?,
        })
    }
}

impl Hook for CheckpointHook {
    fn begin(&mut self, at: &mut Begin) -> Result<()> {
        at.trainer.opt.check_saveable()?;
        let Some(resumed) = resume(&self.ck, at.model, at.trainer, &self.cfg, &self.data, at.epochs)? else {
            return Ok(());
        };
        *at.first_epoch = resumed.epochs_done.min(at.epochs);
        *at.history = resumed.history;
        self.last_saved = Some(resumed.epochs_done);
        at.notes.push(format!(
            "resumed from the checkpoint in {}: {} of {} epochs done{}",
            self.ck.dir.display(),
            resumed.epochs_done,
            at.epochs,
            if *at.first_epoch == at.epochs {
                ", nothing left to train"
            } else {
                ""
            }
        ));
        Ok(())
    }

    fn epoch_end(&mut self, at: &EpochEnd) -> Result<()> {
        let done = at.epoch + 1;
        if at.done == at.steps && (done.is_multiple_of(self.ck.every) || done == at.epochs) {
            save(&self.ck, at.model, at.trainer, &self.cfg, &self.data, done, at.history)?;
            self.last_saved = Some(done);
        }
        Ok(())
    }

    fn resume_hint(&self) -> Option<String> {
        Some(match self.last_saved {
            Some(done) => format!(
                "; running this fit again resumes from the checkpoint in {} ({done} epochs done)",
                self.ck.dir.display()
            ),
            None => format!(
                "; no epoch was complete, so {} holds no checkpoint yet and running this fit again starts over",
                self.ck.dir.display()
            ),
        })
    }
}
