//! happyhorse-codecs
