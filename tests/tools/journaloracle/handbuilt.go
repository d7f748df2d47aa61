package main

import (
	"encoding/json"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Hand-built but valid journals for cases the engine does not produce easily (see pkg/backend/journal_test.go).
// Only the input is hand-built: the expected deployment is the replayer's.

const hbStack = "urn:pulumi:test::test::"

func hbURN(typeChain, name string) resource.URN {
	return resource.URN(hbStack + typeChain + "::" + name)
}

var (
	hbProv  = hbURN("pulumi:providers:pkgA", "default")
	hbProvR = string(hbProv) + "::prov-id-1"
	hbA     = hbURN(typA, "resA")
	hbB     = hbURN(typA, "resB")
	hbComp  = hbURN(compT, "comp")
	hbC     = hbURN(compT+"$"+typA, "resC")
	hbZ     = hbURN(typA, "resZ")
	hbN     = hbURN(typA, "resN")
	hbM     = hbURN(typA, "resM")
)

func hbRes(urn resource.URN, mods ...func(*apitype.ResourceV3)) apitype.ResourceV3 {
	r := apitype.ResourceV3{URN: urn, Type: urn.Type(), Custom: true, ID: resource.ID(urn.Name() + "-id"),
		Inputs: map[string]any{"v": 1.0}, Outputs: map[string]any{"v": 1.0}, Provider: hbProvR}
	if urn.Type() == compT {
		r.Custom, r.ID, r.Provider, r.Inputs = false, "", "", map[string]any{}
	}
	if urn == hbProv {
		r.ID, r.Provider, r.Inputs, r.Outputs = "prov-id-1", "", map[string]any{}, map[string]any{}
	}
	for _, m := range mods {
		m(&r)
	}
	return r
}

func withDeps(deps ...resource.URN) func(*apitype.ResourceV3) {
	return func(r *apitype.ResourceV3) { r.Dependencies = deps }
}

func withPropDeps(k string, deps ...resource.URN) func(*apitype.ResourceV3) {
	return func(r *apitype.ResourceV3) {
		if r.PropertyDependencies == nil {
			r.PropertyDependencies = map[resource.PropertyKey][]resource.URN{}
		}
		r.PropertyDependencies[resource.PropertyKey(k)] = deps
	}
}

func withParent(p resource.URN) func(*apitype.ResourceV3) {
	return func(r *apitype.ResourceV3) { r.Parent = p }
}

func withOutput(k string, v any) func(*apitype.ResourceV3) {
	return func(r *apitype.ResourceV3) {
		outs := map[string]any{}
		for kk, vv := range r.Outputs {
			outs[kk] = vv
		}
		outs[k] = v
		r.Outputs = outs
	}
}

func hbBase(mods ...func(*apitype.DeploymentV3)) *apitype.DeploymentV3 {
	d := &apitype.DeploymentV3{
		Manifest:         fixedManifest,
		SecretsProviders: &apitype.SecretsProvidersV1{Type: "b64"},
		Resources: []apitype.ResourceV3{
			hbRes(hbProv),
			hbRes(hbA),
			hbRes(hbB, withDeps(hbA), withPropDeps("v", hbA)),
			hbRes(hbComp),
			hbRes(hbC, withParent(hbComp), withDeps(hbA)),
		},
		PendingOperations: []apitype.OperationV2{
			{Resource: hbRes(hbZ), Type: apitype.OperationTypeCreating},
			{Resource: hbRes(hbB), Type: apitype.OperationTypeDeleting},
		},
	}
	for _, m := range mods {
		m(d)
	}
	return d
}

// hbJournal builds entries with increasing sequence IDs.
type hbJournal struct {
	entries []apitype.JournalEntry
}

func ptr(i int64) *int64 { return &i }

func (j *hbJournal) add(e apitype.JournalEntry) *hbJournal {
	e.Version = 1
	e.SequenceID = int64(len(j.entries) + 1)
	j.entries = append(j.entries, e)
	return j
}

func (j *hbJournal) begin(op int64, typ apitype.OperationType, r *apitype.ResourceV3) *hbJournal {
	e := apitype.JournalEntry{Kind: apitype.JournalEntryKindBegin, OperationID: op}
	if r != nil {
		e.Operation = &apitype.OperationV2{Resource: *r, Type: typ}
	}
	return j.add(e)
}

func (j *hbJournal) success(op int64, state *apitype.ResourceV3, mods ...func(*apitype.JournalEntry)) *hbJournal {
	e := apitype.JournalEntry{Kind: apitype.JournalEntryKindSuccess, OperationID: op, State: state}
	for _, m := range mods {
		m(&e)
	}
	return j.add(e)
}

func (j *hbJournal) kind(k apitype.JournalEntryKind, op int64, state *apitype.ResourceV3,
	mods ...func(*apitype.JournalEntry),
) *hbJournal {
	e := apitype.JournalEntry{Kind: k, OperationID: op, State: state}
	for _, m := range mods {
		m(&e)
	}
	return j.add(e)
}

func removeOld(i int64) func(*apitype.JournalEntry) {
	return func(e *apitype.JournalEntry) { e.RemoveOld = ptr(i) }
}
func removeNew(i int64) func(*apitype.JournalEntry) {
	return func(e *apitype.JournalEntry) { e.RemoveNew = ptr(i) }
}
func deleteOld(i int64) func(*apitype.JournalEntry) {
	return func(e *apitype.JournalEntry) { e.DeleteOld = ptr(i) }
}
func deleteNew(i int64) func(*apitype.JournalEntry) {
	return func(e *apitype.JournalEntry) { e.DeleteNew = ptr(i) }
}
func isRefresh(e *apitype.JournalEntry) { e.IsRefresh = true }
func pendingReplOld(i int64) func(*apitype.JournalEntry) {
	return func(e *apitype.JournalEntry) { e.PendingReplacementOld = ptr(i) }
}

func pendingReplNew(i int64) func(*apitype.JournalEntry) {
	return func(e *apitype.JournalEntry) { e.PendingReplacementNew = ptr(i) }
}

func rp(r apitype.ResourceV3) *apitype.ResourceV3 { return &r }

func (g *named) recordHandBuilt(name, description string, base *apitype.DeploymentV3, j *hbJournal) {
	var baseJSON []byte
	if base != nil {
		var err error
		if baseJSON, err = json.Marshal(base); err != nil {
			g.fail("%s: %v", name, err)
		}
	}
	entries := make([][]byte, len(j.entries))
	for i, e := range j.entries {
		b, err := json.Marshal(e)
		if err != nil {
			g.fail("%s: %v", name, err)
		}
		entries[i] = b
	}
	f, err := makeFixture(name, description, "replayer", baseJSON, entries, nil)
	if err != nil {
		g.fail("%v", err)
	}
	g.fixtures = append(g.fixtures, f)
}

func secretsEntry(typ string, state string) apitype.JournalEntry {
	e := apitype.JournalEntry{Kind: apitype.JournalEntryKindSecretsManager, SecretsProvider: &apitype.SecretsProvidersV1{Type: typ}}
	if state != "" {
		e.SecretsProvider.State = json.RawMessage(state)
	}
	return e
}

func (g *named) handBuilt() {
	b64Entry := secretsEntry("b64", "")

	// Several unfinished operations: the replayer's map order is random; the fixtures sort them by operation ID.
	// A begin without an operation (same/refresh steps) is not a pending operation. The base's pending creating
	// operation survives after them, its pending deleting operation does not.
	j := (&hbJournal{}).add(b64Entry).
		begin(5, apitype.OperationTypeDeleting, rp(hbRes(hbC, withParent(hbComp)))).
		begin(3, apitype.OperationTypeCreating, rp(hbRes(hbN))).
		begin(4, apitype.OperationTypeUpdating, rp(hbRes(hbA, withOutput("v", 2.0)))).
		begin(6, "", nil).
		begin(7, apitype.OperationTypeCreating, rp(hbRes(hbM))).
		kind(apitype.JournalEntryKindFailure, 7, rp(hbRes(hbM)))
	g.recordHandBuilt("replayer-pending-operations", "unfinished begins of operations 5, 3 and 4 (listed sorted by "+
		"operation ID), an unfinished begin without an operation, a begin ended by a failure, and a base with a "+
		"pending create (kept, after the journal's) and a pending delete (dropped)", hbBase(), j)

	// Marks on new and old resources.
	j = (&hbJournal{}).add(b64Entry).
		begin(1, apitype.OperationTypeCreating, rp(hbRes(hbN))).success(1, rp(hbRes(hbN))).
		begin(2, apitype.OperationTypeCreating, rp(hbRes(hbM))).success(2, rp(hbRes(hbM))).
		begin(3, apitype.OperationTypeDeleting, rp(hbRes(hbN))).success(3, nil, deleteNew(1)).
		begin(4, apitype.OperationTypeDeleting, rp(hbRes(hbM))).success(4, nil, pendingReplNew(2)).
		begin(5, apitype.OperationTypeDeleting, rp(hbRes(hbA))).success(5, nil, deleteOld(1)).
		begin(6, apitype.OperationTypeDeleting, rp(hbRes(hbB))).success(6, nil, pendingReplOld(2))
	g.recordHandBuilt("replayer-marks", "deleteNew/pendingReplacementNew mark resources created by the journal, "+
		"deleteOld/pendingReplacementOld mark base resources; nothing is removed", hbBase(), j)

	// Refresh results on resources created by the journal, and the dependency rebuild.
	j = (&hbJournal{}).add(b64Entry).
		begin(1, apitype.OperationTypeCreating, rp(hbRes(hbN))).success(1, rp(hbRes(hbN))).
		begin(2, apitype.OperationTypeCreating, rp(hbRes(hbM))).success(2, rp(hbRes(hbM))).
		begin(3, apitype.OperationTypeCreating, nil).
		success(3, rp(hbRes(hbURN(typA, "resO"), withDeps(hbM, hbN), withPropDeps("v", hbM), withPropDeps("w", hbN),
			func(r *apitype.ResourceV3) { r.DeletedWith = hbM; r.Parent = hbM; r.ReplaceWith = []resource.URN{hbM} }))).
		begin(4, "", nil).kind(apitype.JournalEntryKindRefreshSuccess, 4, rp(hbRes(hbN, withOutput("drift", true))),
		removeNew(1), isRefresh).
		begin(5, "", nil).kind(apitype.JournalEntryKindRefreshSuccess, 5, nil, removeNew(2), isRefresh)
	g.recordHandBuilt("replayer-refresh-new", "refresh results for resources created earlier in the journal: one "+
		"replaced in place, one removed; the dependency rebuild drops references to the removed one (parent, "+
		"dependencies, propertyDependencies keys, deletedWith, replaceWith)", hbBase(), j)

	// Conflicting actions on base resources.
	j = (&hbJournal{}).add(b64Entry).
		begin(1, "", nil).kind(apitype.JournalEntryKindRefreshSuccess, 1, rp(hbRes(hbA, withOutput("drift", true))),
		removeOld(1), isRefresh).
		begin(2, apitype.OperationTypeDeleting, rp(hbRes(hbA))).success(2, nil, removeOld(1)).
		begin(3, "", nil).kind(apitype.JournalEntryKindRefreshSuccess, 3, rp(hbRes(hbB, withOutput("drift", true))),
		removeOld(2), isRefresh).
		begin(4, apitype.OperationTypeDeleting, rp(hbRes(hbB))).success(4, nil, deleteOld(2)).
		begin(5, apitype.OperationTypeDeleting, rp(hbRes(hbC))).success(5, nil, pendingReplOld(4)).
		kind(apitype.JournalEntryKindOutputs, 6, rp(hbRes(hbC, withParent(hbComp), withOutput("o", "x"))), removeOld(4))
	g.recordHandBuilt("replayer-base-conflicts", "a refreshed base resource that is then deleted is gone; a "+
		"refreshed (replaced) base resource loses a later deleteOld mark; a base resource marked pendingReplacement "+
		"and then replaced by an outputs entry loses the mark", hbBase(), j)

	// Rebuilt base state in the middle of a journal.
	j = (&hbJournal{}).add(b64Entry).
		begin(1, apitype.OperationTypeCreating, rp(hbRes(hbN))).success(1, rp(hbRes(hbN))).
		begin(2, apitype.OperationTypeDeleting, rp(hbRes(hbB))).success(2, nil, removeOld(2)).
		begin(3, apitype.OperationTypeCreating, rp(hbRes(hbM))).
		begin(4, apitype.OperationTypeUpdating, rp(hbRes(hbA))).
		kind(apitype.JournalEntryKindExtensionParameterize, 5, nil, func(e *apitype.JournalEntry) {
			e.ExtensionRef = new(apitype.ExtensionRef("ext-ref-1"))
			e.Extension = &apitype.Extension{Name: "ext-a", Version: "1.0.0", Value: []byte("blob-a")}
		}).
		kind(apitype.JournalEntryKindRebuiltBaseState, 0, nil).
		begin(6, apitype.OperationTypeUpdating, rp(hbRes(hbN, withOutput("v", 3.0)))).
		success(6, rp(hbRes(hbN, withOutput("v", 3.0))), removeOld(0)).
		begin(7, apitype.OperationTypeDeleting, rp(hbRes(hbA))).success(7, nil, removeOld(1))
	g.recordHandBuilt("replayer-rebuilt-base-state", "a rebuilt-base-state entry in the middle: the deployment so "+
		"far (new resources first) becomes the base, later indexes refer to it; an unfinished create before it "+
		"survives as a base pending create, an unfinished update does not; recorded extensions survive",
		hbBase(), j)

	// Secrets managers on an empty base.
	j = (&hbJournal{}).add(b64Entry).
		add(secretsEntry("alt-b64", `{"key":"alt"}`)).
		add(secretsEntry("alt-b64", `{"key":"alt"}`)).
		begin(1, apitype.OperationTypeCreating, rp(hbRes(hbProv))).success(1, rp(hbRes(hbProv)))
	g.recordHandBuilt("replayer-secrets-manager-no-base", "no base: secrets-manager entries set the provider, "+
		"replace it with another one, and an identical one changes nothing", nil, j)
	j = (&hbJournal{}).add(secretsEntry("b64", `{"k":1}`))
	g.recordHandBuilt("replayer-secrets-manager-state", "a secrets-manager entry with the base's type but another "+
		"state replaces the provider", hbBase(), j)

	// A write entry replaces the base; later indexes refer to the new base.
	newBase := hbBase(func(d *apitype.DeploymentV3) {
		d.Resources = []apitype.ResourceV3{hbRes(hbProv), hbRes(hbM), hbRes(hbA)}
		d.PendingOperations = []apitype.OperationV2{{Resource: hbRes(hbN), Type: apitype.OperationTypeCreating}}
		d.SecretsProviders = &apitype.SecretsProvidersV1{Type: "alt-b64", State: json.RawMessage(`{"key":"alt"}`)}
	})
	j = (&hbJournal{}).add(b64Entry).
		kind(apitype.JournalEntryKindWrite, 0, nil, func(e *apitype.JournalEntry) { e.NewSnapshot = newBase }).
		begin(1, apitype.OperationTypeDeleting, rp(hbRes(hbM))).success(1, nil, removeOld(1))
	g.recordHandBuilt("replayer-write", "a write entry replaces the whole base (resources, pending operations, "+
		"secrets provider); the following removeOld indexes into the new base", hbBase(), j)

	// Snippets and extensions.
	snippetBase := hbBase(func(d *apitype.DeploymentV3) {
		d.Extensions = map[apitype.ExtensionRef]apitype.Extension{
			"ext-ref-1": {Name: "ext-a", Version: "1.0.0", Value: []byte("base-blob")},
		}
	})
	j = (&hbJournal{}).add(b64Entry).
		kind(apitype.JournalEntryKindSnippets, 0, nil, func(e *apitype.JournalEntry) {
			e.Snippets = []apitype.SnippetV1{{UUID: "snip-1", Name: "s", Type: "pkgA:index:res", Code: "propA = true",
				References: map[string]string{"r": string(hbURN(typA, "oldName"))}}}
		}).
		kind(apitype.JournalEntryKindExtensionParameterize, 1, nil, func(e *apitype.JournalEntry) {
			e.ExtensionRef = new(apitype.ExtensionRef("ext-ref-1"))
			e.Extension = &apitype.Extension{Name: "ext-a", Version: "1.0.0", Value: []byte("journal-blob")}
		}).
		kind(apitype.JournalEntryKindExtensionParameterize, 2, nil, func(e *apitype.JournalEntry) {
			e.ExtensionRef = new(apitype.ExtensionRef("ext-ref-2"))
			e.Extension = &apitype.Extension{Name: "ext-b", Version: "1.0.0", Value: []byte("blob-b")}
		}).
		begin(3, apitype.OperationTypeCreating, nil).
		success(3, rp(hbRes(hbN, func(r *apitype.ResourceV3) {
			r.Aliases = []resource.URN{hbURN(typA, "oldName")}
			r.SnippetID = "snip-1"
		})))
	g.recordHandBuilt("replayer-snippets-extensions", "a snippets entry sets the snippets (their references are "+
		"URN-normalized through aliases); extension entries add extensions, but for a ref the base already has "+
		"the base's blob wins", snippetBase, j)

	// Outputs entries.
	j = (&hbJournal{}).add(b64Entry).
		begin(1, apitype.OperationTypeCreating, rp(hbRes(hbN, withParent(hbComp)))).
		success(1, rp(hbRes(hbN, withParent(hbComp)))).
		kind(apitype.JournalEntryKindOutputs, 2, rp(hbRes(hbComp, withOutput("o", "x"))), removeOld(3)).
		kind(apitype.JournalEntryKindOutputs, 3, rp(hbRes(hbN, withParent(hbComp), withOutput("o", "y"))),
			removeNew(1)).
		kind(apitype.JournalEntryKindOutputs, 4, nil, removeOld(1))
	g.recordHandBuilt("replayer-outputs", "outputs entries replace a base resource and a journal resource in "+
		"place; an outputs entry without a state does nothing", hbBase(), j)

	// Replacing a resource created earlier in the journal (removeNew on a success).
	j = (&hbJournal{}).add(b64Entry).
		begin(1, apitype.OperationTypeCreating, rp(hbRes(hbN))).success(1, rp(hbRes(hbN))).
		begin(2, apitype.OperationTypeCreating, rp(hbRes(hbM))).success(2, rp(hbRes(hbM, withDeps(hbN)))).
		begin(3, apitype.OperationTypeUpdating, rp(hbRes(hbN, withOutput("v", 2.0)))).
		success(3, rp(hbRes(hbN, withOutput("v", 2.0))), removeNew(1)).
		begin(4, apitype.OperationTypeUpdating, rp(hbRes(hbA, withOutput("v", 2.0)))).
		kind(apitype.JournalEntryKindFailure, 4, rp(hbRes(hbA, withOutput("v", 2.0))), removeOld(1))
	g.recordHandBuilt("replayer-remove-new", "a success with removeNew drops the resource of an earlier "+
		"operation and appends the new state at the end (no dependency rebuild without a refresh); a failure "+
		"entry's state and removeOld are ignored", hbBase(), j)

	// Features.
	j = (&hbJournal{}).add(b64Entry).
		begin(1, apitype.OperationTypeCreating, rp(hbRes(hbN))).
		success(1, rp(hbRes(hbN, func(r *apitype.ResourceV3) { r.Taint = true; r.RefreshBeforeUpdate = true }))).
		begin(2, apitype.OperationTypeCreating, rp(hbRes(hbM))).
		success(2, rp(hbRes(hbM, func(r *apitype.ResourceV3) {
			r.ViewOf = hbN
			r.ReplaceWith = []resource.URN{hbN}
			r.ResourceHooks = map[resource.HookType][]string{resource.BeforeCreate: {"hook1"}}
		}))).
		begin(3, apitype.OperationTypeCreating, rp(hbRes(hbURN(typA, "resX"), func(r *apitype.ResourceV3) {
			r.ExtensionRef = "ext-ref-1"
		})))
	g.recordHandBuilt("replayer-features", "states and a pending operation whose resources need deployment "+
		"features (taint, refreshBeforeUpdate, views, replaceWith, hooks, extension parameterization): version 4 "+
		"with the sorted feature list", hbBase(), j)

	j = (&hbJournal{}).add(b64Entry).
		kind(apitype.JournalEntryKindWrite, 0, nil, func(e *apitype.JournalEntry) {
			e.NewSnapshot = hbBase()
			e.RequiresByteString = true
		})
	g.recordHandBuilt("replayer-byte-string", "an entry with requiresByteString makes the byteString feature "+
		"apply (sticky, to the whole deployment)", hbBase(), j)
	j = (&hbJournal{}).add(b64Entry).
		kind(apitype.JournalEntryKindWrite, 0, nil, func(e *apitype.JournalEntry) {
			e.NewSnapshot = &apitype.DeploymentV3{Manifest: fixedManifest}
			e.RequiresByteString = true
		})
	g.recordHandBuilt("replayer-byte-string-empty", "requiresByteString with no resources and no pending "+
		"operations: no feature (features come from resources), version 3", hbBase(), j)

	// Aliases and URN normalization.
	oldProv := hbURN("pulumi:providers:pkgA", "oldprov")
	newProv := hbURN("pulumi:providers:pkgA", "newprov")
	oldParent := hbURN(compT, "oldcomp")
	aliasBase := hbBase(func(d *apitype.DeploymentV3) {
		d.Resources = []apitype.ResourceV3{
			hbRes(oldProv, func(r *apitype.ResourceV3) {
				r.Type, r.ID, r.Provider, r.Inputs, r.Outputs = "pulumi:providers:pkgA", "p2", "", map[string]any{}, map[string]any{}
			}),
			hbRes(oldParent),
			hbRes(hbURN(compT+"$"+typA, "kid"), withParent(oldParent), func(r *apitype.ResourceV3) {
				r.Provider = string(oldProv) + "::p2"
			}),
			hbRes(hbA),
			hbRes(hbB, withDeps(hbA), withPropDeps("v", hbA), func(r *apitype.ResourceV3) {
				r.DeletedWith = hbA
				r.ViewOf = hbA
			}),
		}
		d.PendingOperations = []apitype.OperationV2{{Resource: hbRes(hbB, withDeps(hbA)), Type: apitype.OperationTypeCreating}}
	})
	newA := hbURN(typA, "resA-renamed")
	j = (&hbJournal{}).add(b64Entry).
		begin(1, "", nil).
		success(1, rp(hbRes(newProv, func(r *apitype.ResourceV3) {
			r.Type, r.ID, r.Provider, r.Inputs, r.Outputs = "pulumi:providers:pkgA", "p2", "", map[string]any{}, map[string]any{}
			r.Aliases = []resource.URN{oldProv}
		})), removeOld(0)).
		begin(2, "", nil).
		success(2, rp(hbRes(hbURN(compT, "newcomp"), func(r *apitype.ResourceV3) {
			r.Aliases = []resource.URN{oldParent}
		})), removeOld(1)).
		begin(3, "", nil).
		success(3, rp(hbRes(newA, func(r *apitype.ResourceV3) { r.Aliases = []resource.URN{hbA} })), removeOld(3))
	g.recordHandBuilt("replayer-aliases", "journal states with aliases of base resources: references in the base "+
		"(provider reference, parent, dependencies, propertyDependencies, deletedWith, viewOf) are rewritten, a "+
		"child of an aliased parent gets a new URN, aliases are dropped from the output, pending operations are "+
		"not rewritten", aliasBase, j)
}
