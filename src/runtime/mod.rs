//! Where and how the course runs: the settings read from the environment
//! ([`settings`], read once), the device ([`device`]), full or quick
//! mode ([`mode`]), and the bookkeeping that keeps candle's tensor ids apart
//! across evcxr cells ([`cells`]).
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

pub mod cells;
pub mod device;
pub mod mode;
mod settings;
pub mod stop;

pub use device::device;
pub use mode::{mode, setup, Mode};
pub use settings::{settings, Settings};
pub use stop::stop_requested;
