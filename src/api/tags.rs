//! Stack tags and their rules (`apitype.ValidateStackTags` in the CLI).

use crate::error::ApiError;
use std::collections::BTreeMap;

/// A stack's tags: name to value. A `BTreeMap` so tags serialize in a stable order.
pub type Tags = BTreeMap<String, String>;

const MAX_TAG_NAME_LEN: usize = 40;
const MAX_TAG_VALUE_LEN: usize = 256;

/// Checks every tag against the CLI's rules: names 1-40 characters of letters, digits, `-`, `_`, `.` and `:`;
/// values at most 256 characters.
///
/// # Errors
/// A 400 naming the first offending tag.
pub fn validate(tags: &Tags) -> Result<(), ApiError> {
    for (name, value) in tags {
        if name.is_empty() {
            return Err(ApiError::bad_request("invalid stack tag: tag names must not be empty"));
        }
        if name.chars().count() > MAX_TAG_NAME_LEN {
            return Err(ApiError::bad_request(format!(
                "invalid stack tag {name:?}: tag names are limited to {MAX_TAG_NAME_LEN} characters"
            )));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')) {
            return Err(ApiError::bad_request(format!(
                "invalid stack tag {name:?}: tag names may only contain alphanumerics, hyphens, underscores, periods, or colons"
            )));
        }
        if value.chars().count() > MAX_TAG_VALUE_LEN {
            return Err(ApiError::bad_request(format!(
                "invalid stack tag {name:?}: tag values are limited to {MAX_TAG_VALUE_LEN} characters"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn accepts_the_cli_builtin_tags() {
        let t = tags(&[("pulumi:project", "web"), ("pulumi:runtime", "nodejs"), ("owner", ""), ("a.b-c_d", "x")]);
        assert!(validate(&t).is_ok());
    }

    #[test]
    fn refuses_bad_tags_by_name() {
        let too_long_value = "v".repeat(257);
        for (t, want) in [
            (tags(&[("", "x")]), "must not be empty"),
            (tags(&[("has space", "x")]), "may only contain"),
            (tags(&[(&"n".repeat(41), "x")]), "limited to 40"),
            (tags(&[("ok", &too_long_value)]), "limited to 256"),
        ] {
            let e = validate(&t).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(want), "{}", e.message);
        }
    }
}
