//! The happyhorse pipeline library.
