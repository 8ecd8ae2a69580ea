//! Checkpoints of [`super::fit`]: every few epochs the weights, the
//! optimiser's state and the [`History`] go into a folder, and a `fit` of
//! the same model with the same settings resumes from there, so that a cell
//! run again after a stop (or in a new kernel, with the model built the same
//! way) trains on instead of starting over, and ends with the weights an
//! uninterrupted run would have.
//!
//! The folder holds `weights-E.safetensors`, `optimizer-E.safetensors`
//! (E: epochs done) and `checkpoint.json`, written last and atomically,
//! which names them; older files are removed after it. A stop at any moment
//! leaves the previous checkpoint whole.

use super::{History, TrainConfig, Trainer};
use crate::error::{write_atomic, Error, Result};
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
        "optimizer": format!("{:?}", cfg.optimizer),
    })
}

pub(crate) fn history_json(h: &History) -> Value {
    json!({
        "loss": h.loss,
        "val_loss": h.val_loss,
        "terms": h.terms,
        "seconds": h.seconds,
        "loss_name": h.loss_name,
    })
}

pub(crate) fn history_from(v: &Value) -> Option<History> {
    // Non-finite values were written as null.
    let numbers = |v: &Value| -> Option<Vec<f32>> {
        v.as_array()?
            .iter()
            .map(|x| {
                if x.is_null() {
                    Some(f32::NAN)
                } else {
                    x.as_f64().map(|f| f as f32)
                }
            })
            .collect()
    };
    let floats = |key: &str| numbers(v.get(key)?);
    let terms = v
        .get("terms")?
        .as_array()?
        .iter()
        .map(|t| Some((t.get(0)?.as_str()?.to_string(), numbers(t.get(1)?)?)))
        .collect::<Option<Vec<_>>>()?;
    Some(History {
        loss: floats("loss")?,
        val_loss: floats("val_loss")?,
        terms,
        seconds: floats("seconds")?,
        loss_name: v.get("loss_name")?.as_str()?.to_string(),
        stopped: None,
    })
}

/// Saves the state after `epochs_done` epochs.
pub(crate) fn save(
    ck: &Checkpoints,
    model: &impl Model,
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
    model.save(dir.join(&weights))?;
    let state = safetensors::serialize(trainer.opt.state()?, None)
        .map_err(|e| Error::invalid(format!("{}: {e}", dir.join(&optimizer).display())))?;
    write_atomic(dir.join(&optimizer), &state)?;
    let index = json!({
        "epochs_done": epochs_done,
        "steps": trainer.steps,
        "weights": weights,
        "optimizer": optimizer,
        "settings": settings(cfg, data),
        "history": history_json(history),
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
    Error::invalid(format!(
        "{} is not a checkpoint this course wrote ({what}); delete its folder to start training afresh",
        path.display()
    ))
}

/// Loads the checkpoint in `ck.dir`, if there is one, into `model` and
/// `trainer`. Settings that differ from the checkpoint's are an error naming
/// them; nothing of the model changes then.
pub(crate) fn resume(
    ck: &Checkpoints,
    model: &impl Model,
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
            return Err(Error::invalid(format!(
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
        return Err(Error::invalid(format!(
            "the checkpoint in {} holds {epochs_done} epochs, more than the {epochs} this fit runs: ask for at least {epochs_done} epochs, \
             or use another folder (or delete this one) to train {epochs} from the start",
            ck.dir.display()
        )));
    }
    let history = history_from(field("history")?).ok_or_else(|| unreadable(&path, "history"))?;
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
    model.load(&weights_path)?;
    trainer.steps = steps;
    Ok(Some(Resumed { epochs_done, history }))
}
