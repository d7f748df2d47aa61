//! Light, borrowed views of resource and operation JSON: only the fields replay reads (references between
//! resources and the flags that name deployment features). The rest of a resource is never parsed: it is carried
//! as the text the CLI sent, so a 10,000-resource state is not rebuilt as a tree of values in memory.

use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// A JSON string borrowed from the text when it has no escapes (nearly always), owned otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_owned(self) -> Text<'static> {
        Text(Cow::Owned(self.0.into_owned()))
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text(Cow::Borrowed(s))
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Text(Cow::Owned(s))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
            // Go writes a nil string as "", never null; a null reads as empty all the same.
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text::default())
            }
        }
        d.deserialize_any(V)
    }
}

fn owned_list(v: Option<Vec<Text<'_>>>) -> Option<Vec<Text<'static>>> {
    v.map(|l| l.into_iter().map(Text::into_owned).collect())
}

/// The fields of an `apitype.ResourceV3` that replay reads or rewrites.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceView<'a> {
    #[serde(borrow)]
    pub urn: Text<'a>,
    #[serde(borrow)]
    pub parent: Text<'a>,
    #[serde(borrow)]
    pub provider: Text<'a>,
    #[serde(borrow)]
    pub dependencies: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    pub property_dependencies: Option<BTreeMap<Text<'a>, Option<Vec<Text<'a>>>>>,
    #[serde(borrow)]
    pub deleted_with: Text<'a>,
    #[serde(borrow)]
    pub replace_with: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    pub view_of: Text<'a>,
    #[serde(borrow)]
    pub aliases: Option<Vec<Text<'a>>>,
    // Feature flags (`stack.ApplyFeatures`).
    pub refresh_before_update: bool,
    pub resource_hooks: Option<BTreeMap<String, IgnoredAny>>,
    pub taint: bool,
    #[serde(borrow)]
    pub extension_ref: Text<'a>,
    #[serde(borrow, rename = "snippetID")]
    pub snippet_id: Text<'a>,
}

impl ResourceView<'_> {
    pub fn into_owned(self) -> ResourceView<'static> {
        ResourceView {
            urn: self.urn.into_owned(),
            parent: self.parent.into_owned(),
            provider: self.provider.into_owned(),
            dependencies: owned_list(self.dependencies),
            property_dependencies: self
                .property_dependencies
                .map(|m| m.into_iter().map(|(k, v)| (k.into_owned(), owned_list(v))).collect()),
            deleted_with: self.deleted_with.into_owned(),
            replace_with: owned_list(self.replace_with),
            view_of: self.view_of.into_owned(),
            aliases: owned_list(self.aliases),
            refresh_before_update: self.refresh_before_update,
            resource_hooks: self.resource_hooks,
            taint: self.taint,
            extension_ref: self.extension_ref.into_owned(),
            snippet_id: self.snippet_id.into_owned(),
        }
    }

    /// The deployment features this resource needs (`stack.ApplyFeatures`, without `byteString`, which the
    /// journal flags).
    pub fn features(&self, out: &mut Vec<&'static str>) {
        let mut add = |f: &'static str| {
            if !out.contains(&f) {
                out.push(f);
            }
        };
        if self.refresh_before_update {
            add("refreshBeforeUpdate");
        }
        if !self.view_of.is_empty() {
            add("views");
        }
        if self.resource_hooks.as_ref().is_some_and(|h| !h.is_empty()) {
            add("hooks");
        }
        if self.taint {
            add("taint");
        }
        if self.replace_with.as_ref().is_some_and(|r| !r.is_empty()) {
            add("replaceWith");
        }
        if !self.extension_ref.is_empty() {
            add("extensionParameterization");
        }
        if !self.snippet_id.is_empty() {
            add("snippets-prototype");
        }
    }
}

/// An `apitype.OperationV2`: a pending operation and the resource it acts on.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OperationView<'a> {
    #[serde(borrow)]
    pub resource: ResourceView<'a>,
    #[serde(borrow, rename = "type")]
    pub kind: Text<'a>,
}

/// Parses the view of JSON text that lives as long as `'a`.
///
/// # Errors
/// When the text is not a JSON object of the expected shape.
pub fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> serde_json::Result<T> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_owns_escaped_ones() {
        let json = r#"{"urn":"urn:pulumi:s::p::t::a","parent":"x\"y","dependencies":["d1"],"custom":true,
            "outputs":{"big":[1,2,3]}}"#;
        let v: ResourceView = parse(json).unwrap();
        assert!(matches!(v.urn.0, Cow::Borrowed(_)));
        assert!(matches!(v.parent.0, Cow::Owned(_)));
        assert_eq!(v.parent.as_str(), "x\"y");
        assert_eq!(v.dependencies.unwrap()[0].as_str(), "d1");
    }

    #[test]
    fn feature_flags_follow_apply_features() {
        let v: ResourceView = parse(
            r#"{"urn":"u","taint":true,"viewOf":"v","replaceWith":["a"],"resourceHooks":{"before-create":["h"]},
               "refreshBeforeUpdate":true,"extensionRef":"e","snippetID":"s"}"#,
        )
        .unwrap();
        let mut f = Vec::new();
        v.features(&mut f);
        f.sort_unstable();
        assert_eq!(
            f,
            ["extensionParameterization", "hooks", "refreshBeforeUpdate", "replaceWith", "snippets-prototype", "taint", "views"]
        );
        let plain: ResourceView = parse(r#"{"urn":"u","replaceWith":[],"resourceHooks":{}}"#).unwrap();
        let mut none = Vec::new();
        plain.features(&mut none);
        assert!(none.is_empty());
    }
}
