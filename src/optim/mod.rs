//! Optimisers with Keras' defaults. Adam follows candle-nn's `AdamW` rule
//! with no weight decay (in one in-place pass per parameter on the CPU, see
//! [`Adam`]) and SGD is candle-nn's; RMSprop and Adadelta, which candle-nn
//! does not have, follow Keras' update rules.
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

use crate::error::{Error, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::{Optimizer as _, ParamsAdamW, SGD};
use std::collections::HashMap;

mod adam;
mod keras;

pub use adam::Adam;
pub use keras::{Adadelta, RmsProp};

/// Which optimiser to train with, and its settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum Optimizer {
    /// Adam (Keras defaults: lr 1e-3, β 0.9/0.999, ε 1e-7).
    Adam { lr: f64, beta1: f64, beta2: f64, eps: f64 },
    /// RMSprop (Keras defaults: lr 1e-3, ρ 0.9, ε 1e-7).
    RmsProp { lr: f64, rho: f64, eps: f64 },
    /// Adadelta (Keras defaults: lr 1e-3, ρ 0.95, ε 1e-7).
    Adadelta { lr: f64, rho: f64, eps: f64 },
    /// Plain stochastic gradient descent.
    Sgd { lr: f64 },
}

impl Default for Optimizer {
    fn default() -> Self {
        Optimizer::adam()
    }
}

impl Optimizer {
    /// Adam with Keras' defaults.
    pub fn adam() -> Self {
        Optimizer::Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        }
    }
    /// Adam with learning rate `lr`, other settings as Keras.
    pub fn adam_lr(lr: f64) -> Self {
        match Optimizer::adam() {
            Optimizer::Adam { beta1, beta2, eps, .. } => Optimizer::Adam { lr, beta1, beta2, eps },
            other => other,
        }
    }
    /// RMSprop with Keras' defaults.
    pub fn rmsprop() -> Self {
        Optimizer::RmsProp {
            lr: 1e-3,
            rho: 0.9,
            eps: 1e-7,
        }
    }
    /// Adadelta with Keras' defaults.
    pub fn adadelta() -> Self {
        Optimizer::Adadelta {
            lr: 1e-3,
            rho: 0.95,
            eps: 1e-7,
        }
    }

    /// Adadelta with learning rate `lr`, other settings as Keras. The seeds
    /// ran standalone Keras 2, whose Adadelta defaulted to `lr` 1.0 (`tf.keras` and Keras 3: 1e-3).
    pub fn adadelta_lr(lr: f64) -> Self {
        match Optimizer::adadelta() {
            Optimizer::Adadelta { rho, eps, .. } => Optimizer::Adadelta { lr, rho, eps },
            other => other,
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            Optimizer::Adam { lr, .. }
            | Optimizer::RmsProp { lr, .. }
            | Optimizer::Adadelta { lr, .. }
            | Optimizer::Sgd { lr } => lr,
        }
    }

    /// Builds the optimiser's state for `vars`.
    ///
    /// Tensor ids made from here on in this cell are kept above the ids of
    /// `vars`, which may come from another notebook cell (see
    /// [`crate::runtime::cells`]): build the optimiser in the cell that runs the loop.
    pub fn build(&self, vars: Vec<Var>) -> Result<OptimizerState> {
        let cell = crate::runtime::cells::OptimizerCell::new(&vars);
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::out_of_range(format!(
                "learning rate {lr} is not allowed: use a finite value > 0 (Keras' default is 0.001)"
            )));
        }
        let rule = match *self {
            Optimizer::Adam { lr, beta1, beta2, eps } => Rule::Adam(Adam::new(
                vars,
                ParamsAdamW {
                    lr,
                    beta1,
                    beta2,
                    eps,
                    weight_decay: 0.0,
                },
            )?),
            Optimizer::Sgd { lr } => Rule::Sgd(SGD::new(vars, lr)?),
            Optimizer::RmsProp { lr, rho, eps } => Rule::RmsProp(RmsProp::new(vars, lr, rho, eps)?),
            Optimizer::Adadelta { lr, rho, eps } => Rule::Adadelta(Adadelta::new(vars, lr, rho, eps)?),
        };
        Ok(OptimizerState { rule, cell })
    }
}

/// A built optimiser, ready to step.
pub struct OptimizerState {
    rule: Rule,
    /// The notebook cell that built it (see [`crate::runtime::cells`]).
    cell: crate::runtime::cells::OptimizerCell,
}

enum Rule {
    Adam(Adam),
    Sgd(SGD),
    RmsProp(RmsProp),
    Adadelta(Adadelta),
}

impl OptimizerState {
    /// One update from the gradients of `loss`.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        self.check_cell()?;
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// One update from computed gradients.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.check_cell()?;
        match &mut self.rule {
            Rule::Adam(o) => o.step(grads)?,
            Rule::Sgd(o) => o.step(grads)?,
            Rule::RmsProp(o) => o.step(grads)?,
            Rule::Adadelta(o) => o.step(grads)?,
        }
        Ok(())
    }

    /// The optimiser's state (moving averages, step count) by name, on the
    /// CPU: what a checkpoint saves so that training resumes exactly.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        match &self.rule {
            Rule::Adam(o) => o.state(),
            Rule::Sgd(_) => Ok(Vec::new()),
            Rule::RmsProp(o) => o.state(),
            Rule::Adadelta(o) => o.state(),
        }
    }

    /// An error when this optimiser's state could not be saved (Adam on a
    /// GPU): checked before training with checkpoints starts.
    pub fn check_saveable(&self) -> Result<()> {
        match &self.rule {
            Rule::Adam(o) => o.check_saveable(),
            _ => Ok(()),
        }
    }

    /// Puts back a state saved from [`OptimizerState::state`] of the same
    /// optimiser on the same weights; a missing or misshapen entry is an
    /// error, and the state is then left as it was.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        match &mut self.rule {
            Rule::Adam(o) => o.load_state(state),
            Rule::Sgd(_) => Ok(()),
            Rule::RmsProp(o) => o.load_state(state),
            Rule::Adadelta(o) => o.load_state(state),
        }
    }

    /// Refuses a step in a later notebook cell whose graph may give two
    /// tensors one id (see [`crate::runtime::cells`]): the optimiser was built in
    /// another cell and nothing in this one kept the variables' ids apart
    /// before the graph was built (a model's forward pass does it).
    fn check_cell(&self) -> Result<()> {
        if self.cell.safe_to_step() {
            return Ok(());
        }
        Err(Error::refused(
            "this optimiser was built in an earlier notebook cell, so this cell's tensors may carry the same \
             ids as its variables and candle would mix up their gradients (evcxr gives every cell its own copy \
             of candle, whose tensor ids start again at 1; see autoencoders::runtime::cells). Build the optimiser in this \
             cell, before the loop, or call `autoencoders::runtime::cells::keep_ids_apart(vars.iter().map(|v| v.as_tensor()))` \
             at the top of this cell. Nothing was updated.",
        ))
    }
}

/// The entry `name` of a saved optimiser state, checked to have `dims`.
fn state_tensor(state: &HashMap<String, Tensor>, name: &str, dims: &[usize]) -> Result<Tensor> {
    let t = state.get(name).ok_or_else(|| {
        Error::disagree(format!(
            "the saved optimiser state has no {name:?}: it was saved by another optimiser or for another model"
        ))
    })?;
    if t.dims() != dims {
        return Err(Error::disagree(format!(
            "the saved optimiser state's {name:?} has shape {:?}, the model's weight {:?}: it was saved for another model",
            t.dims(),
            dims
        )));
    }
    Ok(t.clone())
}
