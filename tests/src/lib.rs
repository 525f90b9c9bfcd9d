//! Integration tests over the whole stack live in `tests/tests/`.
