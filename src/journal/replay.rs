//! Replay: a base deployment and a journal become the deployment the CLI would have written, exactly as the CLI's
//! own `JournalReplayer` builds it (`pkg/backend/journal.go`: `Add`, `GenerateDeployment`, `rebuildDependencies`,
//! and `apitype.DeploymentV3.NormalizeURNReferences`). The CLI's code is the judge; `tests/fixtures/journal/`
//! holds deployments it produced, and the tests below replay every one.
//!
//! One pass over the entries, in the order given (the caller sorts them by sequence ID). Resources stay the JSON
//! text the CLI sent; only the few a replay changes (marked for deletion or pending replacement, dependencies
//! rebuilt after a refresh, URNs normalized after an alias) are parsed and written again. Where the Go code would
//! silently use position 0 for an operation ID no entry added, this is a [`ReplayError`]: a corrupt journal.

use super::entry::{Entry, EntryError, Kind};
use super::urn;
use super::view::{self, OperationView, ResourceView, Text};
use crate::checkpoint::delta::sha256_hex;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// JSON text: borrowed from the base or an entry, or written anew by the replay.
pub type Json<'a> = Cow<'a, str>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayError {
    Entry(EntryError),
    /// An entry names an operation that no earlier success entry added a resource for.
    UnknownOperation { sequence_id: i64, field: &'static str, operation_id: i64 },
    /// An entry of a kind that needs a field does not carry it.
    Missing { sequence_id: i64, field: &'static str },
    /// The base deployment (or a `write` entry's snapshot) is not a deployment.
    BadDeployment(String),
    /// A resource that is not a resource object, or a provider reference without `::`.
    BadResource(String),
    /// Two resources claim the same alias (`NormalizeURNReferences`).
    DuplicateAlias { alias: String },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Entry(e) => e.fmt(f),
            Self::UnknownOperation { sequence_id, field, operation_id } => write!(
                f,
                "corrupt journal: entry {sequence_id} names operation {operation_id} in `{field}`, \
                 but no entry added a resource for that operation"
            ),
            Self::Missing { sequence_id, field } => write!(f, "corrupt journal: entry {sequence_id} has no `{field}`"),
            Self::BadDeployment(d) => write!(f, "the base deployment cannot be read: {d}"),
            Self::BadResource(d) => write!(f, "corrupt journal: {d}"),
            Self::DuplicateAlias { alias } => write!(f, "two resources have the same alias: '{alias}'"),
        }
    }
}

impl From<EntryError> for ReplayError {
    fn from(e: EntryError) -> Self {
        Self::Entry(e)
    }
}

/// The manifest of the generated deployment: the time it was generated and the engine version that ran the update
/// (the CLI's, when known). `magic` is derived from the version, as the CLI derives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// RFC 3339.
    pub time: String,
    pub version: String,
}

impl Manifest {
    fn to_json(&self) -> String {
        let magic = if self.version.is_empty() { String::new() } else { sha256_hex(self.version.as_bytes()) };
        serde_json::json!({ "time": self.time, "magic": magic, "version": self.version }).to_string()
    }
}

/// A deployment's parts as replay keeps them.
#[derive(Debug, Default)]
struct Base<'a> {
    secrets_providers: Option<Json<'a>>,
    resources: Vec<Json<'a>>,
    pending_operations: Vec<Json<'a>>,
    metadata: Option<Json<'a>>,
    snippets: Option<Json<'a>>,
    extensions: BTreeMap<String, Json<'a>>,
}

impl<'a> Base<'a> {
    /// Reads an `apitype.DeploymentV3` (the `deployment` of an untyped checkpoint), borrowing its parts.
    fn parse(text: &'a str) -> Result<Self, ReplayError> {
        Self::parse_with(text, &|r: &'a RawValue| Cow::Borrowed(r.get()))
    }

    /// Reads a deployment whose text lives for `'t`, keeping its parts as `keep` makes them (borrowed or copied).
    fn parse_with<'t>(text: &'t str, keep: &dyn Fn(&'t RawValue) -> Json<'a>) -> Result<Self, ReplayError> {
        #[derive(Deserialize)]
        struct In<'t> {
            #[serde(borrow, default)]
            secrets_providers: Option<&'t RawValue>,
            #[serde(borrow, default)]
            resources: Option<Vec<&'t RawValue>>,
            #[serde(borrow, default)]
            pending_operations: Option<Vec<&'t RawValue>>,
            #[serde(borrow, default)]
            metadata: Option<&'t RawValue>,
            #[serde(borrow, default)]
            snippets: Option<&'t RawValue>,
            #[serde(borrow, default)]
            extensions: Option<BTreeMap<String, &'t RawValue>>,
        }
        let d: In = serde_json::from_str(text).map_err(|e| ReplayError::BadDeployment(describe(&e)))?;
        let raw = keep;
        Ok(Self {
            secrets_providers: d.secrets_providers.map(raw),
            resources: d.resources.unwrap_or_default().into_iter().map(raw).collect(),
            pending_operations: d.pending_operations.unwrap_or_default().into_iter().map(raw).collect(),
            metadata: d.metadata.map(raw),
            snippets: d.snippets.map(raw),
            extensions: d.extensions.unwrap_or_default().into_iter().map(|(k, v)| (k, raw(v))).collect(),
        })
    }
}

/// A resource this update produced, with the marks later entries put on it.
#[derive(Debug)]
struct Slot<'a> {
    text: Json<'a>,
    delete: bool,
    pending_replacement: bool,
}

impl<'a> Slot<'a> {
    fn new(text: Json<'a>) -> Self {
        Self { text, delete: false, pending_replacement: false }
    }
}

/// The state of a replay: `JournalReplayer`'s fields, with base indexes and operation IDs as the CLI sends them.
#[derive(Debug, Default)]
pub struct Replayer<'a> {
    base: Base<'a>,
    new: Vec<Slot<'a>>,
    /// Operation ID → position in `new` of the resource its success entry added.
    op_index: HashMap<i64, usize>,
    /// Operation IDs whose resource is removed from `new`, resolved when the deployment is generated.
    to_remove: Vec<(i64, i64)>,
    to_delete_in_base: HashSet<i64>,
    to_replace_in_base: HashMap<i64, Json<'a>>,
    mark_deletion: HashSet<i64>,
    mark_pending_replacement: HashSet<i64>,
    /// Begun and not ended, by operation ID (ordered, where Go's map order is random).
    incomplete: BTreeMap<i64, Option<Json<'a>>>,
    has_refresh: bool,
    requires_byte_string: bool,
    extensions: BTreeMap<String, Json<'a>>,
}

/// The result of a replay: the checkpoint text and how many resources it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub text: String,
    pub resources: usize,
}

/// A generated deployment: what [`Replayer::finish`] writes out, and what a rebuilt-base-state entry makes the
/// new base.
#[derive(Debug)]
pub struct Deployment<'a> {
    /// 3, or 4 when any feature is in use.
    pub version: i64,
    pub features: Vec<&'static str>,
    base: Base<'a>,
}

impl<'a> Replayer<'a> {
    /// A replayer over `base`, the `deployment` object of the stack's checkpoint (`None` for a stack without one).
    ///
    /// # Errors
    /// When `base` is not a deployment.
    pub fn new(base: Option<&'a str>) -> Result<Self, ReplayError> {
        let base = match base {
            Some(t) => Base::parse(t)?,
            None => Base::default(),
        };
        Ok(Self { base, ..Self::default() })
    }

    fn new_index(&self, sequence_id: i64, field: &'static str, operation_id: i64) -> Result<usize, ReplayError> {
        self.op_index.get(&operation_id).copied().ok_or(ReplayError::UnknownOperation { sequence_id, field, operation_id })
    }

    /// Applies one entry's text, borrowing from it what the deployment keeps (the text must outlive the replay).
    ///
    /// # Errors
    /// When the entry is malformed or refers to what the journal never added.
    pub fn add_text(&mut self, text: &'a str) -> Result<(), ReplayError> {
        let (entry, kind) = Entry::parse(text)?;
        self.add(&entry, kind, &|r: &'a RawValue| Cow::Borrowed(r.get()))
    }

    /// Applies one entry's text, copying what the deployment keeps: the text can go as soon as this returns, so a
    /// journal read row by row never has to be in memory whole (only the states that survive are).
    ///
    /// # Errors
    /// As [`add_text`](Self::add_text).
    pub fn add_copied(&mut self, text: &str) -> Result<(), ReplayError> {
        let (entry, kind) = Entry::parse(text)?;
        self.add(&entry, kind, &|r: &RawValue| Cow::Owned(r.get().to_owned()))
    }

    /// Applies one parsed entry (`JournalReplayer.Add`), keeping its parts as `keep` makes them.
    fn add<'t>(&mut self, e: &Entry<'t>, kind: Kind, keep: &dyn Fn(&'t RawValue) -> Json<'a>) -> Result<(), ReplayError> {
        let seq = e.sequence_id;
        if e.requires_byte_string {
            self.requires_byte_string = true;
        }
        match kind {
            Kind::Begin => {
                self.incomplete.insert(e.operation_id, e.operation.map(keep));
            }
            Kind::Success => {
                self.incomplete.remove(&e.operation_id);
                if let Some(state) = e.state {
                    self.new.push(Slot::new(keep(state)));
                    self.op_index.insert(e.operation_id, self.new.len() - 1);
                }
                if let Some(i) = e.remove_old {
                    self.to_delete_in_base.insert(i);
                }
                if let Some(op) = e.remove_new {
                    self.to_remove.push((seq, op));
                }
                if let Some(i) = e.delete_old {
                    self.mark_deletion.insert(i);
                }
                if let Some(op) = e.delete_new {
                    let at = self.new_index(seq, "deleteNew", op)?;
                    self.new[at].delete = true;
                }
                if let Some(i) = e.pending_replacement_old {
                    self.mark_pending_replacement.insert(i);
                }
                if let Some(op) = e.pending_replacement_new {
                    let at = self.new_index(seq, "pendingReplacementNew", op)?;
                    self.new[at].pending_replacement = true;
                }
                if e.is_refresh {
                    self.has_refresh = true;
                }
            }
            Kind::RefreshSuccess => {
                self.incomplete.remove(&e.operation_id);
                self.has_refresh = true;
                if let Some(i) = e.remove_old {
                    match e.state {
                        None => {
                            self.to_delete_in_base.insert(i);
                        }
                        Some(s) => {
                            self.to_replace_in_base.insert(i, keep(s));
                        }
                    }
                }
                if let Some(op) = e.remove_new {
                    match e.state {
                        None => self.to_remove.push((seq, op)),
                        Some(s) => {
                            let at = self.new_index(seq, "removeNew", op)?;
                            self.new[at] = Slot::new(keep(s));
                        }
                    }
                }
            }
            Kind::Failure => {
                self.incomplete.remove(&e.operation_id);
            }
            Kind::Outputs => {
                if let (Some(s), Some(i)) = (e.state, e.remove_old) {
                    self.to_replace_in_base.insert(i, keep(s));
                }
                if let (Some(s), Some(op)) = (e.state, e.remove_new) {
                    let at = self.new_index(seq, "removeNew", op)?;
                    self.new[at] = Slot::new(keep(s));
                }
            }
            Kind::Write => {
                let snap = e.new_snapshot.ok_or(ReplayError::Missing { sequence_id: seq, field: "newSnapshot" })?;
                self.base = Base::parse_with(snap.get(), keep)?;
            }
            Kind::SecretsManager => {
                let sp = e.secrets_provider.ok_or(ReplayError::Missing { sequence_id: seq, field: "secretsProvider" })?;
                // Kept when identical, so secrets are not re-encrypted on every update.
                if !self.base.secrets_providers.as_deref().is_some_and(|current| same_provider(current, sp.get())) {
                    self.base.secrets_providers = Some(keep(sp));
                }
            }
            Kind::Snippets => {
                self.base.snippets = e.snippets.map(keep);
            }
            Kind::RebuiltBaseState => {
                // After a refresh the engine rebuilds its base: later indexes refer to the regenerated deployment.
                let rebuilt = self.generate()?;
                let (has_refresh, requires_byte_string) = (self.has_refresh, self.requires_byte_string);
                *self = Self { base: rebuilt.base, has_refresh, requires_byte_string, ..Self::default() };
            }
            Kind::ExtensionParameterize => {
                let r = e.extension_ref.as_ref().ok_or(ReplayError::Missing { sequence_id: seq, field: "extensionRef" })?;
                let x = e.extension.ok_or(ReplayError::Missing { sequence_id: seq, field: "extension" })?;
                self.extensions.insert(r.as_str().to_owned(), keep(x));
            }
        }
        Ok(())
    }

    /// The deployment the journal describes (`GenerateDeployment`), as an untyped checkpoint's text:
    /// `{"version", "features", "deployment"}`.
    ///
    /// # Errors
    /// When the journal is corrupt.
    pub fn finish(mut self, manifest: &Manifest) -> Result<Replayed, ReplayError> {
        let d = self.generate()?;
        Ok(Replayed { text: d.to_untyped(manifest), resources: d.base.resources.len() })
    }

    /// `GenerateDeployment`, taking the resources out of the replayer (it is finished or rebuilt after this).
    fn generate(&mut self) -> Result<Deployment<'a>, ReplayError> {
        let mut removed = HashSet::with_capacity(self.to_remove.len());
        for &(seq, op) in &self.to_remove {
            removed.insert(self.new_index(seq, "removeNew", op)?);
        }
        let base = std::mem::take(&mut self.base);
        let mut items = Vec::with_capacity(self.new.len() + base.resources.len());
        for (i, slot) in std::mem::take(&mut self.new).into_iter().enumerate() {
            if !removed.contains(&i) {
                items.push(Item::new(slot.text, slot.delete, slot.pending_replacement));
            }
        }
        for (i, res) in base.resources.into_iter().enumerate() {
            let i = i as i64;
            if self.to_delete_in_base.contains(&i) {
                continue;
            }
            match self.to_replace_in_base.remove(&i) {
                // A replaced resource takes the new state as it is: the marks apply to the base's copy only.
                Some(state) => items.push(Item::new(state, false, false)),
                None => items.push(Item::new(
                    res,
                    self.mark_deletion.contains(&i),
                    self.mark_pending_replacement.contains(&i),
                )),
            }
        }

        let mut features = Vec::new();
        let byte_string = |features: &mut Vec<&'static str>| {
            if self.requires_byte_string && !features.contains(&"byteString") {
                features.push("byteString");
            }
        };
        // One look at every resource (a view borrowed for the moment): its features, and whether replay must
        // rewrite references at all. Usually it need not, and resources then stay the text they came as.
        let (mut aliases, mut provider_ids) = (false, Vec::new());
        for (i, item) in items.iter().enumerate() {
            let v = view::parse::<ResourceView>(&item.text).map_err(not_a_resource)?;
            v.features(&mut features);
            byte_string(&mut features);
            aliases |= v.aliases.as_ref().is_some_and(|a| !a.is_empty());
            // A provider reference without an ID (or without `::`, an error) is rewritten by the normalization.
            let provider = v.provider.as_str();
            if !provider.is_empty() && urn::split_provider(provider).is_none_or(|(_, id)| id.is_empty()) {
                provider_ids.push(i);
            }
        }
        let rewrite_all = self.has_refresh || aliases;
        for (i, item) in items.iter_mut().enumerate() {
            if rewrite_all || provider_ids.binary_search(&i).is_ok() {
                item.load_view()?;
            }
        }
        let mut operations = Vec::new();
        for op in std::mem::take(&mut self.incomplete).into_values().flatten() {
            operation_view(&op)?.resource.features(&mut features);
            byte_string(&mut features);
            operations.push(op);
        }
        // Pending creates of the base survive: they need the user to resolve them.
        for op in base.pending_operations {
            let v = operation_view(&op)?;
            if v.kind.as_str() == "creating" {
                v.resource.features(&mut features);
                byte_string(&mut features);
                operations.push(op);
            }
        }

        if self.has_refresh {
            rebuild_dependencies(&mut items);
        }
        let mut snippets = base.snippets;
        if snippets.as_deref().is_some_and(|s| !is_empty_list(s)) && !features.contains(&"snippets-prototype") {
            features.push("snippets-prototype");
        }
        normalize_urn_references(&mut items, &mut snippets)?;

        let mut extensions = std::mem::take(&mut self.extensions);
        extensions.extend(base.extensions);
        features.sort_unstable();
        let resources = items.into_iter().map(Item::finish).collect::<Result<Vec<_>, _>>()?;
        Ok(Deployment {
            version: if features.is_empty() { 3 } else { 4 },
            features,
            base: Base {
                secrets_providers: base.secrets_providers,
                resources,
                pending_operations: operations,
                metadata: base.metadata,
                snippets,
                extensions,
            },
        })
    }
}

impl Deployment<'_> {
    /// The untyped checkpoint text, with keys as the CLI's `encoding/json` would omit them (`omitempty`).
    pub fn to_untyped(&self, manifest: &Manifest) -> String {
        let b = &self.base;
        let size: usize = b.resources.iter().map(|r| r.len() + 1).sum::<usize>()
            + b.pending_operations.iter().map(|r| r.len() + 1).sum::<usize>()
            + 512;
        let mut out = String::with_capacity(size);
        out.push_str(&format!("{{\"version\":{}", self.version));
        if !self.features.is_empty() {
            out.push_str(",\"features\":");
            out.push_str(&serde_json::to_string(&self.features).unwrap_or_else(|_| "[]".into()));
        }
        out.push_str(",\"deployment\":{\"manifest\":");
        out.push_str(&manifest.to_json());
        if let Some(sp) = &b.secrets_providers {
            out.push_str(",\"secrets_providers\":");
            out.push_str(sp);
        }
        push_list(&mut out, "resources", &b.resources);
        push_list(&mut out, "pending_operations", &b.pending_operations);
        out.push_str(",\"metadata\":");
        out.push_str(b.metadata.as_deref().unwrap_or("{}"));
        if let Some(s) = b.snippets.as_deref().filter(|s| !is_empty_list(s)) {
            out.push_str(",\"snippets\":");
            out.push_str(s);
        }
        if !b.extensions.is_empty() {
            out.push_str(",\"extensions\":{");
            for (i, (k, v)) in b.extensions.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                out.push_str(v);
            }
            out.push('}');
        }
        out.push_str("}}");
        out
    }
}

fn push_list(out: &mut String, key: &str, items: &[Json<'_>]) {
    if items.is_empty() {
        return;
    }
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":[");
    for (i, r) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r);
    }
    out.push(']');
}

fn is_empty_list(text: &str) -> bool {
    serde_json::from_str::<Option<Vec<serde::de::IgnoredAny>>>(text).is_ok_and(|l| l.is_none_or(|l| l.is_empty()))
}

/// `bytes.Equal` on type and state, as the CLI compares secrets providers.
fn same_provider(a: &str, b: &str) -> bool {
    #[derive(Deserialize)]
    struct Sp<'a> {
        #[serde(borrow, rename = "type", default)]
        kind: Text<'a>,
        #[serde(borrow, default)]
        state: Option<&'a RawValue>,
    }
    match (serde_json::from_str::<Sp>(a), serde_json::from_str::<Sp>(b)) {
        (Ok(a), Ok(b)) => a.kind == b.kind && a.state.map(RawValue::get) == b.state.map(RawValue::get),
        _ => false,
    }
}

fn operation_view<'t>(text: &'t Json<'_>) -> Result<OperationView<'t>, ReplayError> {
    view::parse(text).map_err(|e| ReplayError::BadResource(format!("a pending operation is not an operation: {}", describe(&e))))
}

fn describe(e: &serde_json::Error) -> String {
    crate::error::ApiError::bad_json(e).message.trim_start_matches("invalid request body: ").to_owned()
}

/// A resource on its way into the generated deployment: its text, the references replay may rewrite (read only
/// when it may rewrite them), and marks.
struct Item<'a> {
    text: Json<'a>,
    /// Boxed: a view is large, and most resources never need one.
    view: Option<Box<ResourceView<'a>>>,
    /// The references in `view` differ from the text's.
    dirty: bool,
    delete: bool,
    pending_replacement: bool,
}

fn not_a_resource(e: serde_json::Error) -> ReplayError {
    ReplayError::BadResource(format!("a resource is not a resource object: {}", describe(&e)))
}

impl<'a> Item<'a> {
    fn new(text: Json<'a>, delete: bool, pending_replacement: bool) -> Self {
        Self { text, view: None, dirty: false, delete, pending_replacement }
    }

    /// Reads the references replay may rewrite (borrowed from a borrowed text, copied from an owned one).
    fn load_view(&mut self) -> Result<(), ReplayError> {
        let view = match &self.text {
            Cow::Borrowed(t) => view::parse::<ResourceView<'a>>(t).map_err(not_a_resource)?,
            Cow::Owned(t) => view::parse::<ResourceView>(t).map_err(not_a_resource)?.into_owned(),
        };
        self.view = Some(Box::new(view));
        Ok(())
    }

    /// The resource's text: as it came when nothing changed, else rewritten with Go's `omitempty` rules.
    fn finish(self) -> Result<Json<'a>, ReplayError> {
        if !self.dirty && !self.delete && !self.pending_replacement {
            return Ok(self.text);
        }
        let mut obj: Map<String, Value> = serde_json::from_str(&self.text).map_err(not_a_resource)?;
        if self.delete {
            obj.insert("delete".into(), Value::Bool(true));
        }
        if self.pending_replacement {
            obj.insert("pendingReplacement".into(), Value::Bool(true));
        }
        if let Some(v) = self.view.filter(|_| self.dirty).map(|v| *v) {
            obj.insert("urn".into(), Value::String(v.urn.0.into_owned()));
            set_text(&mut obj, "parent", v.parent);
            set_text(&mut obj, "provider", v.provider);
            set_list(&mut obj, "dependencies", v.dependencies);
            match v.property_dependencies.filter(|m| !m.is_empty()) {
                None => {
                    obj.remove("propertyDependencies");
                }
                Some(m) => {
                    let m: Map<String, Value> = m
                        .into_iter()
                        .map(|(k, deps)| (k.0.into_owned(), deps.map_or(Value::Null, list_value)))
                        .collect();
                    obj.insert("propertyDependencies".into(), Value::Object(m));
                }
            }
            set_text(&mut obj, "deletedWith", v.deleted_with);
            set_list(&mut obj, "replaceWith", v.replace_with);
            set_text(&mut obj, "viewOf", v.view_of);
            set_list(&mut obj, "aliases", v.aliases);
        }
        serde_json::to_string(&obj).map(Cow::Owned).map_err(|e| ReplayError::BadResource(e.to_string()))
    }
}

fn set_text(obj: &mut Map<String, Value>, key: &str, v: Text<'_>) {
    if v.is_empty() {
        obj.remove(key);
    } else {
        obj.insert(key.into(), Value::String(v.0.into_owned()));
    }
}

fn list_value(l: Vec<Text<'_>>) -> Value {
    Value::Array(l.into_iter().map(|t| Value::String(t.0.into_owned())).collect())
}

fn set_list(obj: &mut Map<String, Value>, key: &str, v: Option<Vec<Text<'_>>>) {
    match v.filter(|l| !l.is_empty()) {
        None => {
            obj.remove(key);
        }
        Some(l) => {
            obj.insert(key.into(), list_value(l));
        }
    }
}

/// `rebuildDependencies` and `undangleParentResources`: after a refresh, a reference may name a resource that is
/// gone; keep only references to resources earlier in the list, and move a child whose parent is gone up.
fn rebuild_dependencies(items: &mut [Item<'_>]) {
    // Every item has its view here (a refresh means every reference may need rewriting).
    let urns: Vec<Text<'_>> = items.iter().map(|i| i.view.as_ref().map(|v| v.urn.clone()).unwrap_or_default()).collect();
    let mut earlier: HashSet<&str> = HashSet::with_capacity(urns.len());
    for (item, own) in items.iter_mut().zip(&urns) {
        let Some(v) = item.view.as_mut() else { continue };
        let mut changed = false;
        for list in [&mut v.dependencies, &mut v.replace_with].into_iter().flatten() {
            let before = list.len();
            list.retain(|d| earlier.contains(d.as_str()));
            changed |= list.len() != before;
        }
        if let Some(map) = v.property_dependencies.as_mut().filter(|m| !m.is_empty()) {
            let before: usize = map.values().map(|d| d.as_ref().map_or(0, Vec::len) + 1).sum();
            for d in map.values_mut().flatten() {
                d.retain(|d| earlier.contains(d.as_str()));
            }
            map.retain(|_, d| d.as_ref().is_some_and(|d| !d.is_empty()));
            let after: usize = map.values().map(|d| d.as_ref().map_or(0, Vec::len) + 1).sum();
            changed |= after != before;
        }
        if !v.deleted_with.is_empty() && !earlier.contains(v.deleted_with.as_str()) {
            v.deleted_with = Text::default();
            changed = true;
        }
        item.dirty |= changed;
        earlier.insert(own.as_str());
    }

    // Every resource in the list counts here, later ones too, as in the CLI.
    let mut parents: HashMap<&str, Text<'_>> = HashMap::with_capacity(urns.len());
    for (item, own) in items.iter_mut().zip(&urns) {
        let Some(v) = item.view.as_mut() else { continue };
        let original = v.parent.clone();
        if !earlier.contains(original.as_str()) {
            let moved = parents.get(original.as_str()).cloned().unwrap_or_default();
            if moved != original {
                v.parent = moved;
                item.dirty = true;
            }
        }
        parents.insert(own.as_str(), original);
    }
}

/// `NormalizeURNReferences`: references to an alias of a resource become references to its URN, a child of a
/// renamed parent takes its new URN, aliases are dropped, and a provider reference without an ID gets the CLI's
/// unknown ID.
fn normalize_urn_references(items: &mut [Item<'_>], snippets: &mut Option<Json<'_>>) -> Result<(), ReplayError> {
    // Items without a view have neither aliases nor references to rewrite (see `generate`).
    let mut aliased: HashMap<String, String> = HashMap::new();
    for item in items.iter() {
        let Some(v) = &item.view else { continue };
        for alias in v.aliases.iter().flatten() {
            match aliased.get(alias.as_str()) {
                Some(other) if other != v.urn.as_str() => {
                    return Err(ReplayError::DuplicateAlias { alias: alias.as_str().to_owned() })
                }
                _ => {
                    aliased.insert(alias.as_str().to_owned(), v.urn.as_str().to_owned());
                }
            }
        }
        if let Some(new_parent) = aliased.get(v.parent.as_str()) {
            if let Some(moved) = urn::reparented(v.urn.as_str(), new_parent) {
                aliased.insert(v.urn.as_str().to_owned(), moved);
            }
        }
    }

    let fix = |t: &mut Text<'_>, dirty: &mut bool| {
        if let Some(new) = aliased.get(t.as_str()) {
            if new != t.as_str() {
                *t = Text::from(new.clone());
                *dirty = true;
            }
        }
    };
    for item in items.iter_mut() {
        let mut dirty = false;
        let Some(v) = item.view.as_mut() else { continue };
        if !v.provider.is_empty() {
            let (p_urn, id) = urn::split_provider(v.provider.as_str())
                .ok_or_else(|| ReplayError::BadResource(format!("malformed provider reference: {}", v.provider.as_str())))?;
            let new_urn = aliased.get(p_urn).map_or(p_urn, String::as_str);
            let id = if id.is_empty() { urn::UNKNOWN_PROVIDER_ID } else { id };
            let reference = format!("{new_urn}::{id}");
            if reference != v.provider.as_str() {
                v.provider = Text::from(reference);
                dirty = true;
            }
        }
        if !aliased.is_empty() {
            fix(&mut v.urn, &mut dirty);
            fix(&mut v.parent, &mut dirty);
            for d in v.dependencies.iter_mut().flatten() {
                fix(d, &mut dirty);
            }
            for d in v.property_dependencies.iter_mut().flat_map(|m| m.values_mut()).flatten().flatten() {
                fix(d, &mut dirty);
            }
            fix(&mut v.deleted_with, &mut dirty);
            fix(&mut v.view_of, &mut dirty);
        }
        if v.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
            v.aliases = None;
            dirty = true;
        }
        item.dirty |= dirty;
    }

    if aliased.is_empty() {
        return Ok(());
    }
    if let Some(text) = snippets.as_deref() {
        let mut list: Value = serde_json::from_str(text).map_err(|e| ReplayError::BadDeployment(describe(&e)))?;
        let mut changed = false;
        for snippet in list.as_array_mut().into_iter().flatten() {
            for r in snippet.get_mut("references").and_then(Value::as_object_mut).into_iter().flat_map(|m| m.values_mut()) {
                if let Some(new) = r.as_str().and_then(|s| aliased.get(s)) {
                    *r = Value::String(new.clone());
                    changed = true;
                }
            }
        }
        if changed {
            *snippets = Some(Cow::Owned(list.to_string()));
        }
    }
    Ok(())
}

/// Replays `entries` (texts in sequence order) over `base` (a deployment's text) into an untyped checkpoint.
///
/// # Errors
/// When the base is not a deployment or the journal is malformed or corrupt.
pub fn replay<'a>(
    base: Option<&'a str>,
    entries: impl IntoIterator<Item = &'a str>,
    manifest: &Manifest,
) -> Result<Replayed, ReplayError> {
    let mut r = Replayer::new(base)?;
    for text in entries {
        r.add_text(text)?;
    }
    r.finish(manifest)
}

/// The `deployment` object of an untyped checkpoint text (`{"version", "features", "deployment"}`).
///
/// # Errors
/// When the text is not an untyped deployment.
pub fn deployment_of(untyped: &str) -> Result<Option<&str>, ReplayError> {
    #[derive(Deserialize)]
    struct Untyped<'a> {
        #[serde(borrow, default)]
        deployment: Option<&'a RawValue>,
    }
    let u: Untyped = serde_json::from_str(untyped).map_err(|e| ReplayError::BadDeployment(describe(&e)))?;
    Ok(u.deployment.map(RawValue::get))
}
