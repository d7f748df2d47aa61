//! The parts of a resource URN that replay needs, split exactly as the CLI splits them
//! (`sdk/go/common/resource/urn/urn.go`): `urn:pulumi:<stack>::<project>::<qualified$type>::<name>`, where the
//! name is everything after the third `::` (it may itself contain `::`).

const PREFIX: &str = "urn:pulumi:";
const NAME_DELIMITER: &str = "::";
/// The type of the stack's root resource: a child of it keeps its bare type when re-parented.
const ROOT_STACK_TYPE: &str = "pulumi:pulumi:Stack";
/// The ID the CLI gives a provider reference that has none (`providers.UnknownID`).
pub const UNKNOWN_PROVIDER_ID: &str = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/// A URN's components, borrowed from it. `None` from [`Urn::parse`] for a string without the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Urn<'a> {
    pub stack: &'a str,
    pub project: &'a str,
    pub qualified_type: &'a str,
    pub name: &'a str,
}

impl<'a> Urn<'a> {
    pub fn parse(urn: &'a str) -> Option<Self> {
        let rest = urn.strip_prefix(PREFIX)?;
        let mut parts = rest.splitn(4, NAME_DELIMITER);
        let stack = parts.next().unwrap_or("");
        let project = parts.next().unwrap_or("");
        let qualified_type = parts.next().unwrap_or("");
        let name = parts.next().unwrap_or("");
        Some(Self { stack, project, qualified_type, name })
    }

    /// The resource's own type: the qualified type after its last `$`.
    pub fn base_type(&self) -> &'a str {
        self.qualified_type.rsplit('$').next().unwrap_or(self.qualified_type)
    }
}

/// `resource.NewURN(stack, project, parentType, baseType, name)`.
pub fn new_urn(stack: &str, project: &str, parent_type: &str, base_type: &str, name: &str) -> String {
    let typ = if !parent_type.is_empty() && parent_type != ROOT_STACK_TYPE {
        format!("{parent_type}${base_type}")
    } else {
        base_type.to_owned()
    };
    format!("{PREFIX}{stack}{NAME_DELIMITER}{project}{NAME_DELIMITER}{typ}{NAME_DELIMITER}{name}")
}

/// The URN of `child` once its parent has moved to `new_parent`, as `NormalizeURNReferences` derives it; `None`
/// when the URN does not change (no parent, or the parent is the stack).
pub fn reparented(child: &str, new_parent: &str) -> Option<String> {
    if new_parent.is_empty() {
        return None;
    }
    let parent = Urn::parse(new_parent)?;
    if parent.qualified_type == ROOT_STACK_TYPE {
        return None;
    }
    let c = Urn::parse(child)?;
    Some(new_urn(c.stack, c.project, parent.qualified_type, c.base_type(), c.name))
}

/// Splits a provider reference `<urn>::<id>` at its last `::`.
pub fn split_provider(reference: &str) -> Option<(&str, &str)> {
    let at = reference.rfind(NAME_DELIMITER)?;
    Some((&reference[..at], &reference[at + NAME_DELIMITER.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_the_cli() {
        let u = Urn::parse("urn:pulumi:dev::app::my:comp:C$aws:s3/bucket:Bucket::logs::2024").unwrap();
        assert_eq!(u.stack, "dev");
        assert_eq!(u.project, "app");
        assert_eq!(u.qualified_type, "my:comp:C$aws:s3/bucket:Bucket");
        assert_eq!(u.base_type(), "aws:s3/bucket:Bucket");
        assert_eq!(u.name, "logs::2024", "the name is the open rest");
        assert!(Urn::parse("not-a-urn").is_none());
    }

    #[test]
    fn a_child_follows_its_parents_new_type() {
        let child = "urn:pulumi:dev::app::old:C$pkg:R::r1";
        assert_eq!(
            reparented(child, "urn:pulumi:dev::app::new:C::c").as_deref(),
            Some("urn:pulumi:dev::app::new:C$pkg:R::r1")
        );
        assert_eq!(reparented(child, "urn:pulumi:dev::app::pulumi:pulumi:Stack::app-dev"), None);
        assert_eq!(reparented(child, ""), None);
        assert_eq!(new_urn("s", "p", "pulumi:pulumi:Stack", "t:m:R", "n"), "urn:pulumi:s::p::t:m:R::n");
    }

    #[test]
    fn provider_references_split_at_the_last_delimiter() {
        let r = "urn:pulumi:dev::app::pulumi:providers:aws::default::abc-123";
        assert_eq!(split_provider(r), Some(("urn:pulumi:dev::app::pulumi:providers:aws::default", "abc-123")));
        assert_eq!(split_provider("nodelimiter"), None);
    }
}
