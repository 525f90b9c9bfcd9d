//! happyhorse-model
