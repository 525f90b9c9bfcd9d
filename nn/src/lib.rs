//! happyhorse-nn
