//! happyhorse-sampler
