//! Organization, project and stack names, which can only be built valid (Pulumi's naming rules).
//!
//! The rules are the CLI's own (`sdk/go/common/tokens`, `pkg/backend/httpstate`): a name the CLI would refuse
//! locally is refused here with the same kind of message, so a direct HTTP client gets a clear 400 too.

use crate::error::ApiError;
use std::fmt;

const MAX_NAME_LEN: usize = 100;
/// Organization names follow the identity provider's login rules (GitHub-like): 1-39 characters.
const MAX_ORG_LEN: usize = 39;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn check(kind: &str, s: &str, max: usize, allowed: fn(char) -> bool, allowed_desc: &str) -> Result<(), ApiError> {
    if s.is_empty() {
        return Err(ApiError::bad_request(format!("{kind} name must not be empty")));
    }
    if s.len() > max {
        return Err(ApiError::bad_request(format!("{kind} name is limited to {max} characters")));
    }
    if !s.chars().all(allowed) {
        return Err(ApiError::bad_request(format!(
            "invalid {kind} name {s:?}: {kind} names may only contain {allowed_desc}"
        )));
    }
    // URLs normalise `.` and `..` away (and `%2E` with them), so a stack under such a name could never be read,
    // renamed or removed again; `...` and longer are refused alike, as no one means them.
    if s.chars().all(|c| c == '.') {
        return Err(ApiError::bad_request(format!("invalid {kind} name {s:?}: a name must not be made only of periods")));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// An organization login: ASCII letters, digits, `-`, `_` and `.`, not starting with `-` or `.`, 1-39 chars.
    OrgName
);
name_type!(
    /// A project name: ASCII letters, digits, `-`, `_` and `.`, 1-100 characters (`tokens.ValidateProjectName`).
    ProjectName
);
name_type!(
    /// A stack name: ASCII letters, digits, `-`, `_` and `.`, 1-100 characters (`tokens.ParseStackName`).
    StackName
);

impl OrgName {
    /// # Errors
    /// A 400 naming the rule that `s` breaks.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        check("organization", s, MAX_ORG_LEN, is_name_char, "alphanumerics, hyphens, underscores and periods")?;
        if s.starts_with(['-', '.']) {
            return Err(ApiError::bad_request(format!(
                "invalid organization name {s:?}: it must start with a letter, digit or underscore"
            )));
        }
        Ok(Self(s.to_owned()))
    }
}

impl ProjectName {
    /// # Errors
    /// A 400 naming the rule that `s` breaks.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        check("project", s, MAX_NAME_LEN, is_name_char, "alphanumerics, hyphens, underscores and periods")?;
        Ok(Self(s.to_owned()))
    }
}

impl StackName {
    /// # Errors
    /// A 400 naming the rule that `s` breaks.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        check("stack", s, MAX_NAME_LEN, is_name_char, "alphanumerics, hyphens, underscores and periods")?;
        Ok(Self(s.to_owned()))
    }
}

/// A name that was accepted before names made only of periods were refused: an operator may still remove a
/// stack under one (by query string, as a URL path cannot carry it). Nothing else qualifies.
pub fn is_misnamed(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME_LEN && s.chars().all(|c| c == '.')
}

/// A fully qualified stack: `org/project/stack`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StackRef {
    pub org: OrgName,
    pub project: ProjectName,
    pub stack: StackName,
}

impl StackRef {
    /// # Errors
    /// A 400 for the first invalid name.
    pub fn parse(org: &str, project: &str, stack: &str) -> Result<Self, ApiError> {
        Ok(Self { org: OrgName::parse(org)?, project: ProjectName::parse(project)?, stack: StackName::parse(stack)? })
    }
}

impl fmt::Display for StackRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.org, self.project, self.stack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_names_pulumi_accepts() {
        for s in ["dev", "my-stack", "prod_eu.1", "A", &"x".repeat(100)] {
            assert!(StackName::parse(s).is_ok(), "{s}");
            assert!(ProjectName::parse(s).is_ok(), "{s}");
        }
        for s in ["acme", "my-org", "org_1", "a.b"] {
            assert!(OrgName::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn refuses_bad_names_with_a_clear_message() {
        let e = StackName::parse("has space").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("stack names may only contain"), "{}", e.message);
        assert!(StackName::parse("").unwrap_err().message.contains("must not be empty"));
        assert!(StackName::parse(&"x".repeat(101)).unwrap_err().message.contains("100 characters"));
        assert!(ProjectName::parse("a/b").is_err());
        assert!(ProjectName::parse("é").is_err());
        assert!(OrgName::parse("-acme").is_err());
        assert!(OrgName::parse(&"o".repeat(40)).is_err());
        assert!(OrgName::parse("ac%2Fme").is_err());
    }

    #[test]
    fn names_made_only_of_periods_are_refused() {
        for s in [".", "..", "...", "....."] {
            let e = StackName::parse(s).unwrap_err();
            assert!(e.message.contains("only of periods"), "{}", e.message);
            assert!(ProjectName::parse(s).is_err(), "{s}");
            assert!(OrgName::parse(s).is_err(), "{s}");
        }
        assert!(StackName::parse("v1.0").is_ok());
        assert!(StackName::parse(".hidden").is_ok());
    }

    /// What an operator may still remove: a name that breaks only the periods rule, never any other string.
    #[test]
    fn only_period_names_count_as_misnamed() {
        assert!(is_misnamed(".."));
        assert!(!is_misnamed("dev"));
        assert!(!is_misnamed("a/b"));
        assert!(!is_misnamed(""));
    }

    #[test]
    fn stack_ref_displays_fully_qualified() {
        let r = StackRef::parse("acme", "web", "dev").unwrap();
        assert_eq!(r.to_string(), "acme/web/dev");
        assert!(StackRef::parse("acme", "web", "d ev").is_err());
    }
}
