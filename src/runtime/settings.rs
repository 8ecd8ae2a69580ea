//! The course's settings, read from the environment once per process (under
//! evcxr, once per notebook cell's copy of the crate) and handed out by
//! [`settings`]. No other module reads the environment or sets it.
//!
//! | variable | setting | default |
//! |---|---|---|
//! | `AUTOENCODERS_QUICK` | [`Settings::mode`]: quick mode for any value but `0` | full |
//! | `AUTOENCODERS_DEVICE` | [`Settings::force_cpu`] for `cpu` | the GPU where there is one |
//! | `AUTOENCODERS_CPU_OPS` | [`Settings::cpu_ops`]: `candle`, `gemm`, `avx2`, `avx512` | the fastest the CPU has |
//! | `AUTOENCODERS_DATA` | [`Settings::data_dir`] | `data/` in this repository |
//! | `AUTOENCODERS_JUPYTER_RELAY` | [`Settings::jupyter_relay`] for `1` (set by `kernel/relay.py`) | off |
//! | `AUTOENCODERS_CELL_IDS` | [`Settings::keep_ids_apart`], off for `off` (to test the workaround) | on |
//! | `AUTOENCODERS_STOP_DIR` | [`Settings::stop_dir`] (set by `kernel/relay.py`: see [`super::stop`]) | none |
//!
//! Reading them also asks candle's CPU worker pool not to spin between
//! element-wise ops (`CANDLE_BARRIER_POOL_SPIN_LIMIT=0`, unless set), before
//! candle's pool starts: on a laptop's few cores a spinning worker takes a
//! core from the crate's own multi-threaded ops (a fifth of all CPU time in
//! a profile of the deep dense model). On the main thread (where training
//! and a notebook's cells run) it also makes that thread one of the
//! kernels' workers (`kernels::adopt_main_thread`), so that an op's
//! parallel loop does not put it to sleep and wake it again: a fifth of the
//! deep dense model's step.

use super::mode::Mode;
use crate::kernels::{direct::Isa, CpuOps};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Everything the environment decides about how the course runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Full or quick mode.
    pub mode: Mode,
    /// Run on the CPU even where a GPU is usable.
    pub force_cpu: bool,
    /// Which CPU kernels the layers use.
    pub cpu_ops: CpuOps,
    /// Where `mnist/` and `fashion-mnist/` are.
    pub data_dir: PathBuf,
    /// The course's kernel relay is there to redraw `fit`'s progress.
    pub jupyter_relay: bool,
    /// Keep candle's tensor ids apart across notebook cells (see
    /// [`super::cells`]); off only to show what the workaround prevents.
    pub keep_ids_apart: bool,
    /// The course kernel's folder for the stop button (see [`super::stop`]).
    pub stop_dir: Option<PathBuf>,
}

impl Settings {
    /// The settings a lookup of environment variables gives.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Settings {
        let quick = var("AUTOENCODERS_QUICK").is_some_and(|v| !v.is_empty() && v != "0");
        let cpu_ops = match var("AUTOENCODERS_CPU_OPS")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "candle" => CpuOps::Candle,
            "gemm" => CpuOps::Gemm,
            "avx2" => CpuOps::Direct(Isa::Avx2),
            "avx512" => CpuOps::Direct(Isa::Avx512),
            _ => CpuOps::Auto,
        };
        Settings {
            mode: if quick { Mode::QUICK } else { Mode::Full },
            force_cpu: var("AUTOENCODERS_DEVICE").is_some_and(|v| v.eq_ignore_ascii_case("cpu")),
            cpu_ops,
            data_dir: match var("AUTOENCODERS_DATA") {
                Some(dir) if !dir.is_empty() => PathBuf::from(dir),
                _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("data"),
            },
            jupyter_relay: var("AUTOENCODERS_JUPYTER_RELAY").is_some_and(|v| v == "1"),
            keep_ids_apart: var("AUTOENCODERS_CELL_IDS").is_none_or(|v| v != "off"),
            stop_dir: var("AUTOENCODERS_STOP_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// The course's settings, read once (see the module's table).
pub fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        const SPIN: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
        if std::env::var_os(SPIN).is_none() {
            // Before any tensor op has started candle's pool: the settings
            // are read by `setup()`, `device()`, the data loaders and every
            // model's first layer.
            std::env::set_var(SPIN, "0");
        }
        let s = Settings::from_lookup(|name| std::env::var(name).ok());
        crate::kernels::choose(s.cpu_ops);
        // Before any op has started rayon's pool, as above.
        crate::kernels::adopt_main_thread();
        s
    })
}
