//! Why a generation did not finish: the input was bad (exit 2), or the run failed on the
//! way (exit 1). A stop request ends either way with exit 130.

use happyhorse_tensor::Error;

/// An error, classified by whose it is.
#[derive(Debug)]
pub enum Failure {
    /// Bad input: a flag, a file, a stack, a prompt, an image, an audio file.
    Input(Error),
    /// A failure while running on good input: broken numbers, a write that failed.
    Run(Error),
}

impl Failure {
    /// The error, whichever kind.
    pub fn error(&self) -> &Error {
        match self {
            Failure::Input(e) | Failure::Run(e) => e,
        }
    }
}

/// Errors of the tensor library inside a run are run failures unless marked as input.
impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Run(e)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error().fmt(f)
    }
}
