//! Full or quick mode. The notebook tests set `AUTOENCODERS_QUICK=1` so that
//! every notebook executes on a small subset with capped epochs; a person
//! running the course gets the full data and the lesson's epochs.
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

/// How much work the notebooks do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// All the data, every epoch the lesson asks for.
    Full,
    /// `train`/`test` images of each data set and at most `max_epochs`.
    Quick {
        train: usize,
        test: usize,
        max_epochs: usize,
    },
}

/// The environment variable that turns quick mode on (any value but `0`).
pub const QUICK_ENV: &str = "AUTOENCODERS_QUICK";

/// The current mode ([`QUICK_ENV`], read once by [`super::settings`]).
pub fn mode() -> Mode {
    super::settings().mode
}

impl Mode {
    /// Quick mode's sizes: 2,000 training and 500 test images, 2 epochs.
    pub const QUICK: Mode = Mode::Quick {
        train: 2000,
        test: 500,
        max_epochs: 2,
    };

    /// `(train, test)` subset sizes in quick mode.
    pub fn subset(self) -> Option<(usize, usize)> {
        match self {
            Mode::Full => None,
            Mode::Quick { train, test, .. } => Some((train, test)),
        }
    }

    /// The epochs to run when a lesson asks for `epochs`.
    pub fn epochs(self, epochs: usize) -> usize {
        match self {
            Mode::Full => epochs,
            Mode::Quick { max_epochs, .. } => epochs.min(max_epochs),
        }
    }

    /// The optimisation steps to run when a hand-written loop asks for
    /// `steps` (quick mode: at most 100 per allowed epoch).
    pub fn steps(self, steps: usize) -> usize {
        match self {
            Mode::Full => steps,
            Mode::Quick { max_epochs, .. } => steps.min(100 * max_epochs),
        }
    }

    /// True in quick mode.
    pub fn is_quick(self) -> bool {
        matches!(self, Mode::Quick { .. })
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Full => write!(f, "mode: full (all images, the lesson's epochs)"),
            Mode::Quick { train, test, max_epochs } => write!(
                f,
                "mode: quick ({QUICK_ENV} is set: {train} train / {test} test images, at most {max_epochs} epochs); numbers below are not the lesson's"
            ),
        }
    }
}

/// Prints the device and the mode, and returns the device: the first call of
/// every notebook.
pub fn setup() -> candle_core::Device {
    let dev = crate::runtime::device::device();
    println!("{}", mode());
    dev
}
