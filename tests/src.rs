//! Cross-crate integration tests of Vigil live in `tests/tests/`.
