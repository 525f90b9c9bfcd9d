//! happyhorse-codecs

pub mod io;
pub mod resample;
pub mod sa_audio;
pub mod turbo;
pub mod wan22;
