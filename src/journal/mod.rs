//! Journaling, the CLI's default update protocol since v3.225: instead of uploading a checkpoint after every step,
//! the CLI sends batches of journal entries (`PATCH .../update/{id}/journalentries`) and the server rebuilds the
//! deployment from the update's base and its entries. See `../shared/docs/journaling.md`.
//!
//! - [`batch`]: a request body checked and split into entries, each kept as the exact text the CLI sent.
//! - [`replay`]: base + entries → deployment, as the CLI's `JournalReplayer` does it.

pub mod batch;
pub mod entry;
pub mod replay;
pub mod urn;
pub mod view;

#[cfg(test)]
mod replay_tests;

pub use entry::JOURNAL_VERSION;

/// The journal version to answer a `StartUpdate` that asked for `requested`: `min(requested, 1)` for updates
/// that persist state, none for previews, and none when journaling is turned off.
pub fn negotiate(requested: i64, persists_state: bool, enabled: bool) -> i64 {
    if !enabled || !persists_state || requested < 1 {
        return 0;
    }
    requested.min(JOURNAL_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_the_lower_version_and_never_for_previews() {
        assert_eq!(negotiate(1, true, true), 1);
        assert_eq!(negotiate(2, true, true), 1, "a newer CLI is kept on version 1");
        assert_eq!(negotiate(0, true, true), 0, "a CLI that does not journal");
        assert_eq!(negotiate(1, false, true), 0, "previews never journal");
        assert_eq!(negotiate(2, true, false), 0, "PROCELLA_JOURNALING=false");
    }
}
