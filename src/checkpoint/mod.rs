//! Checkpoints: the deployment text the CLI uploads, and the delta edits that patch it.

pub mod delta;
pub mod sequence;
pub mod upload;
