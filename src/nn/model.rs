//! What training, prediction, summaries and saving need of a model.

use super::{Pass, Summary};
use crate::error::{Error, Result};
use crate::io::write_atomic;
use candle_core::{Device, Tensor, Var};
use std::collections::HashMap;
use std::path::Path;

/// A model: a forward pass and named weights. `train::fit`,
/// `predict` and `evaluate` take any `Model`; a [`super::Sequential`] is one,
/// and so is an autoencoder made of two.
pub trait Model {
    /// The output for a batch within `pass` (training or inference); layers
    /// may add loss terms to `pass`.
    fn forward_pass(&self, xs: &Tensor, pass: &mut Pass) -> Result<Tensor>;

    /// The trainable weights, by name (`encoder.dense_1.weight`, …).
    fn named_params(&self) -> Vec<(String, Var)>;

    /// Weights saved with the model but not trained (batch normalisation's
    /// running statistics).
    fn named_state(&self) -> Vec<(String, Var)> {
        Vec::new()
    }

    /// The device the weights live on.
    fn device(&self) -> Device;

    /// The layers, their output shapes and weight counts.
    fn summary(&self) -> Result<Summary>;

    /// The output for a batch, as inference (training-only layers pass
    /// their input through).
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.forward_pass(xs, &mut Pass::inference())
    }

    /// The trainable weights.
    fn vars(&self) -> Vec<Var> {
        self.named_params().into_iter().map(|(_, v)| v).collect()
    }

    /// The trainable weight called `name`, as [`Model::named_params`] lists
    /// them (`encoder.dense_1.weight` is a dense layer's `(units, in)`
    /// matrix); an unknown name is an error listing the names there are.
    fn weight(&self, name: &str) -> Result<Tensor> {
        let params = self.named_params();
        if let Some((_, v)) = params.iter().find(|(n, _)| n == name) {
            return Ok(v.as_tensor().clone());
        }
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        Err(Error::not_found(format!(
            "no weight named {name:?}; this model's weights are: {}",
            names.join(", ")
        )))
    }

    /// Number of trainable weights (Keras' "Trainable params").
    fn param_count(&self) -> usize {
        self.named_params().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Saves every weight (trained and state) as safetensors, atomically;
    /// missing folders are created.
    fn save(&self, path: impl AsRef<Path>) -> Result<()>
    where
        Self: Sized,
    {
        save_weights(self, path.as_ref())
    }

    /// Loads weights saved by [`Model::save`]. Every name and shape is checked
    /// before any weight is written: a file of another architecture is an
    /// error that lists what differs, and the model is left as it was.
    fn load(&self, path: impl AsRef<Path>) -> Result<()>
    where
        Self: Sized,
    {
        load_weights(self, path.as_ref())
    }

    /// [`Model::load`] from the bytes of a safetensors file; `source` names
    /// it in errors.
    fn load_bytes(&self, bytes: &[u8], source: &str) -> Result<()>
    where
        Self: Sized,
    {
        load_weights_bytes(self, bytes, source)
    }
}

/// [`Model::save`] for any model, `dyn` included.
pub fn save_weights(model: &dyn Model, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for (name, v) in model.named_params().into_iter().chain(model.named_state()) {
        tensors.push((name, v.as_tensor().to_device(&Device::Cpu)?));
    }
    let bytes =
        safetensors::serialize(tensors, None).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
    write_atomic(path, &bytes)
}

/// [`Model::load`] for any model, `dyn` included.
pub fn load_weights(model: &dyn Model, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such weights file; save the model there first",
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    load_weights_bytes(model, &bytes, &path.display().to_string())
}

/// [`Model::load_bytes`] for any model, `dyn` included.
pub fn load_weights_bytes(model: &dyn Model, bytes: &[u8], source: &str) -> Result<()> {
    let saved: HashMap<String, Tensor> = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
        .map_err(|e| Error::bad_file(format!("{source}: not a safetensors weights file ({e})")))?;
    let ours: Vec<(String, Var)> = model.named_params().into_iter().chain(model.named_state()).collect();
    let problems = differences(&ours, &saved);
    if !problems.is_empty() {
        return Err(Error::Mismatch {
            what: "load".into(),
            left: source.to_string(),
            right: "this model".into(),
            fix: format!(
                "{}. Nothing was loaded: build the model that saved the file, then load",
                problems.iter().take(4).cloned().collect::<Vec<_>>().join("; ")
            ),
        });
    }
    for (name, v) in &ours {
        let t = saved[name].to_device(v.device())?.to_dtype(v.dtype())?;
        v.set(&t)?;
    }
    Ok(())
}

/// What differs between a model's weights and a file's: missing names,
/// other shapes, names the model does not have.
fn differences(ours: &[(String, Var)], saved: &HashMap<String, Tensor>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, v) in ours {
        match saved.get(name) {
            None => problems.push(format!("{name} is missing")),
            Some(t) if t.dims() != v.dims() => problems.push(format!(
                "{name} is {:?} in the file, {:?} in the model",
                t.dims(),
                v.dims()
            )),
            _ => {}
        }
    }
    let extra: Vec<&String> = saved.keys().filter(|k| !ours.iter().any(|(n, _)| n == *k)).collect();
    if !extra.is_empty() {
        problems.push(format!(
            "{} weights the model does not have (e.g. {})",
            extra.len(),
            extra[0]
        ));
    }
    problems
}
