package main

import (
	"encoding/json"
	"fmt"

	"github.com/gofrs/uuid"

	"github.com/pulumi/pulumi/pkg/v3/engine"
	lt "github.com/pulumi/pulumi/pkg/v3/engine/lifecycletest/framework"
	pkgresource "github.com/pulumi/pulumi/pkg/v3/resource"
	"github.com/pulumi/pulumi/pkg/v3/resource/deploy"
	"github.com/pulumi/pulumi/pkg/v3/secrets"
	"github.com/pulumi/pulumi/pkg/v3/secrets/b64"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func extensionParam(name string, value []byte) *pulumirpc.Parameterization {
	return &pulumirpc.Parameterization{Name: name, Version: "1.0.0", Value: value}
}

// altSecretsManager is a second secrets manager (base64 like b64, but another type and state), to change the
// stack's secrets provider.
type altSecretsManager struct{}

func (altSecretsManager) Type() string                { return "alt-b64" }
func (altSecretsManager) State() json.RawMessage      { return json.RawMessage(`{"key":"alt"}`) }
func (altSecretsManager) Encrypter() config.Encrypter { return config.Base64Crypter }
func (altSecretsManager) Decrypter() config.Decrypter { return config.Base64Crypter }

var _ secrets.Manager = altSecretsManager{}

// named collects the named scenarios.
type named struct {
	fixtures []fixture
}

func (g *named) fail(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// step runs one engine operation; wantErr says whether the operation is expected to fail.
type step struct {
	name    string
	base    *deploy.Snapshot
	op      lt.TestOp
	opts    engine.UpdateOptions
	prog    program
	prov    provConf
	sm      secrets.Manager
	wantErr bool
}

func (g *named) run(s step) (*engineResult, *deploy.Snapshot) {
	op := s.op
	if op == nil {
		op = lt.TestOp(engine.Update)
	}
	res, err := executeCanonical(engineRun{
		name: s.name, base: s.base, op: op, opts: s.opts, hostF: hostF(s.prog, s.prov), sm: s.sm,
	})
	if err != nil {
		g.fail("%s: %v", s.name, err)
	}
	if (res.opErr != nil) != s.wantErr {
		g.fail("%s: operation error %v, want error: %v", s.name, res.opErr, s.wantErr)
	}
	next, err := snapshotOf(res.replayed)
	if err != nil {
		g.fail("%s: deserializing the result: %v", s.name, err)
	}
	return res, next
}

// record writes the full journal of a run as a fixture.
func (g *named) record(name, description string, res *engineResult) {
	f, err := makeFixture(name, description, "engine", res.base, res.entries, &res.replayed)
	if err != nil {
		g.fail("%v", err)
	}
	g.fixtures = append(g.fixtures, f)
}

// recordPrefix writes the journal of a run cut after `cut` entries (what a killed CLI leaves behind).
func (g *named) recordPrefix(name, description string, res *engineResult, cut int) {
	if cut <= 0 || cut >= len(res.entries) {
		g.fail("%s: bad cut %d of %d entries", name, cut, len(res.entries))
	}
	f, err := makeFixture(name, description, "engine-prefix", res.base, res.entries[:cut], nil)
	if err != nil {
		g.fail("%v", err)
	}
	g.fixtures = append(g.fixtures, f)
}

// cutAfter returns the number of entries up to and including the first one matching pred.
func (g *named) cutAfter(name string, res *engineResult, pred func(apitype.JournalEntry) bool) int {
	es, err := decodeEntries(res.entries)
	if err != nil {
		g.fail("%s: %v", name, err)
	}
	for i, e := range es {
		if pred(e) {
			return i + 1
		}
	}
	g.fail("%s: no entry matches the cut", name)
	return 0
}

func beginOf(opType apitype.OperationType, resName string) func(apitype.JournalEntry) bool {
	return func(e apitype.JournalEntry) bool {
		return e.Kind == apitype.JournalEntryKindBegin && e.Operation != nil && e.Operation.Type == opType &&
			e.Operation.Resource.URN.Name() == resName
	}
}

func successOf(resName string) func(apitype.JournalEntry) bool {
	return func(e apitype.JournalEntry) bool {
		return e.Kind == apitype.JournalEntryKindSuccess && e.State != nil && e.State.URN.Name() == resName
	}
}

var (
	refresh   = lt.TestOp(engine.Refresh)
	refreshV2 = lt.TestOp(engine.RefreshV2)
	destroy   = lt.TestOp(engine.Destroy)
)

func urnOf(typ tokens.Type, name string, parentType tokens.Type) resource.URN {
	return resource.NewURN("test", "test", parentType, typ, name)
}

// basic is the program most scenarios start from: two custom resources with a dependency, a component with a
// child and registered outputs, and a secret input.
func basic(aV int, aRK string, dbr bool) []decl {
	return []decl{
		custom("resA", props("v", aV, "rk", aRK, "dbr", dbr, "password", secret("hunter2"))),
		{typ: typA, name: "resB", custom: true, inputs: props("v", 1),
			deps: []string{"resA"}, propDeps: map[string][]string{"v": {"resA"}}},
		component("comp"),
		{typ: typA, name: "resC", custom: true, parent: "comp", inputs: props("v", 1), deps: []string{"resA"}},
		outputs("comp", props("out", "c")),
	}
}

func without(decls []decl, names ...string) []decl {
	drop := set(names...)
	var out []decl
	for _, d := range decls {
		if !drop[d.name] && !drop[d.outputsOf] {
			out = append(out, d)
		}
	}
	return out
}

func (g *named) generate() {
	basicProg := declProgram(basic(1, "x", false)...)

	// create / pending create (truncated) / same / update / delete / replace / delete-before-replace.
	res, s1 := g.run(step{name: "create", prog: basicProg})
	g.record("create", "update from no state: creates the default provider, two custom resources with a "+
		"dependency, a component with a child and registered outputs", res)
	g.recordPrefix("pending-create-truncated", "the create journal cut right after the begin of resB's create: "+
		"the create is a pending operation", res, g.cutAfter("pending-create-truncated", res,
		beginOf(apitype.OperationTypeCreating, "resB")))

	res, _ = g.run(step{name: "same", base: s1, prog: basicProg})
	g.record("same", "update with no changes: only same steps", res)

	res, _ = g.run(step{name: "update", base: s1, prog: declProgram(basic(2, "x", false)...)})
	g.record("update", "update that changes an input of resA (resB and resC stay the same)", res)
	g.recordPrefix("pending-update-truncated", "the update journal cut right after the begin of resA's update",
		res, g.cutAfter("pending-update-truncated", res, beginOf(apitype.OperationTypeUpdating, "resA")))

	res, _ = g.run(step{name: "delete", base: s1, prog: declProgram(without(basic(1, "x", false), "resB")...)})
	g.record("delete", "update whose program no longer registers resB: resB is deleted", res)

	res, _ = g.run(step{name: "replace", base: s1, prog: declProgram(basic(1, "y", false)...)})
	g.record("replace", "create-before-delete replacement of resA (the old resA is marked delete, then deleted)", res)
	g.recordPrefix("replace-truncated", "the replace journal cut right after the create of resA's replacement: the "+
		"old resA is only marked for deletion", res, g.cutAfter("replace-truncated", res, successOf("resA")))

	res, _ = g.run(step{name: "delete-before-replace", base: s1, prog: declProgram(basic(1, "y", true)...)})
	g.record("delete-before-replace", "delete-before-replace of resA (its dependents are replaced too)", res)

	// Failures.
	res, _ = g.run(step{name: "failed-create", prog: basicProg, prov: provConf{failCreate: set("resB")},
		wantErr: true})
	g.record("failed-create", "update from no state where the create of resB fails", res)

	res, _ = g.run(step{name: "failed-update", base: s1, prog: declProgram(basic(2, "x", false)...),
		prov: provConf{failUpdate: set("resA")}, wantErr: true})
	g.record("failed-update", "update where the update of resA fails", res)

	res, _ = g.run(step{name: "failed-delete", base: s1, prog: declProgram(without(basic(1, "x", false), "resB")...),
		prov: provConf{failDelete: set("resB")}, wantErr: true})
	g.record("failed-delete", "update where the delete of resB fails", res)

	// Outputs of components.
	outProg := append(basic(1, "x", false)[:4:4],
		component("inner"), decl{typ: typA, name: "resD", custom: true, parent: "inner", inputs: props("v", 1)},
		outputs("inner", props("d", "x", "s", secret("shh"))), outputs("comp", props("out", "changed", "n", 2)))
	res, _ = g.run(step{name: "outputs", base: s1, prog: declProgram(outProg...)})
	g.record("outputs", "update that registers new outputs on an existing component and on a new nested "+
		"component (outputs entries)", res)

	// Refresh.
	refreshDecls := []decl{
		component("compX"),
		{typ: typA, name: "resP", custom: true, parent: "compX", inputs: props("v", 1)},
		{typ: typA, name: "resQ", custom: true, parent: "resP", inputs: props("v", 1)},
		custom("resA", props("v", 1)),
		{typ: typA, name: "resB", custom: true, inputs: props("v", 1), deps: []string{"resA"},
			propDeps: map[string][]string{"v": {"resA"}}, deletedWith: "resA"},
		{typ: typA, name: "resB2", custom: true, inputs: props("v", 1), deps: []string{"resP"},
			propDeps: map[string][]string{"w": {"resP"}}},
		{typ: typA, name: "resY", custom: true, parent: "compX", inputs: props("v", 1), deps: []string{"resA"}},
	}
	_, rs := g.run(step{name: "refresh-setup", prog: declProgram(refreshDecls...)})
	res, _ = g.run(step{name: "refresh-deletes-dependency", base: rs, op: refresh,
		prov: provConf{readGone: set("resA", "resP")}})
	g.record("refresh-deletes-dependency", "refresh where resA and resP no longer exist: dependencies, property "+
		"dependencies and deletedWith on resA are dropped, resQ's parent resP becomes resP's parent compX", res)

	res, _ = g.run(step{name: "refresh-changed-state", base: rs, op: refresh,
		prov: provConf{readChange: set("resA", "resQ")}})
	g.record("refresh-changed-state", "refresh where resA and resQ have drifted: their states are replaced "+
		"in place", res)

	res, _ = g.run(step{name: "refresh-program", base: rs, op: refreshV2, prog: declProgram(refreshDecls...),
		prov: provConf{readChange: set("resA"), readGone: set("resY")}})
	g.record("refresh-program", "refresh that runs the program (refresh v2): resA drifted, resY is gone", res)

	res, _ = g.run(step{name: "up-refresh", base: s1, prog: declProgram(basic(2, "x", false)...),
		opts: engine.UpdateOptions{Refresh: true}, prov: provConf{readChange: set("resB")}})
	g.record("up-refresh", "`up --refresh`: refresh steps (resB drifted), a rebuilt-base-state entry, then the "+
		"update against the rebuilt base", res)

	res, _ = g.run(step{name: "up-refresh-deletes", base: s1, prog: basicProg,
		opts: engine.UpdateOptions{Refresh: true}, prov: provConf{readGone: set("resA")}})
	g.record("up-refresh-deletes", "`up --refresh` where resA no longer exists: the refresh removes it, the base "+
		"is rebuilt, and the update creates resA again", res)

	// A base with pending operations: creates survive, others are dropped.
	pendingBase := cloneSnap(s1)
	pendingBase.PendingOperations = []pkgresource.Operation{
		{Type: pkgresource.OperationTypeCreating, Resource: pendingState("resZ", "")},
		{Type: pkgresource.OperationTypeUpdating, Resource: findState(s1, "resB")},
		{Type: pkgresource.OperationTypeCreating, Resource: pendingState("resW", "")},
	}
	res, _ = g.run(step{name: "pending-create-in-base", base: pendingBase, prog: declProgram(basic(2, "x", false)...)})
	g.record("pending-create-in-base", "update on a base that carries pending creating operations (kept, in base "+
		"order) and a pending updating operation (dropped)", res)
	g.recordPrefix("pending-create-in-base-truncated", "the same journal cut after the begin of resA's update: "+
		"the journal's pending operation comes before the base's pending creates", res,
		g.cutAfter("pending-create-in-base-truncated", res, beginOf(apitype.OperationTypeUpdating, "resA")))

	// Secrets providers.
	res, _ = g.run(step{name: "secrets-provider-same", base: s1, prog: declProgram(basic(2, "x", false)...),
		sm: b64.NewBase64SecretsManager()})
	g.record("secrets-provider-same", "update whose secrets-manager entry names the provider the base already has "+
		"(no change)", res)

	res, _ = g.run(step{name: "secrets-provider-change", base: s1, prog: declProgram(basic(2, "x", false)...),
		sm: altSecretsManager{}})
	g.record("secrets-provider-change", "update with a new secrets provider: the secrets-manager entry replaces the "+
		"base's provider; new states are encrypted with it, untouched base states keep their ciphertext", res)

	// Imports.
	res, _ = g.run(step{name: "import", base: s1, op: lt.ImportOp([]deploy.Import{
		{Type: typA, Name: "imported", ID: "imp-1"},
		{Type: typA, Name: "imported2", ID: "imp-2", Protect: true},
	})})
	g.record("import", "`pulumi import` of two resources (import steps) into an existing stack", res)

	res, _ = g.run(step{name: "import-in-update", base: s1, prog: declProgram(append(basic(1, "x", false),
		decl{typ: typA, name: "adopted", custom: true, importID: "ext-7", inputs: props("v", 1)})...)})
	g.record("import-in-update", "update whose program adopts an existing resource with the import option", res)

	// Aliases.
	aliasV1 := []decl{
		component("comp"),
		{typ: typA, name: "child", custom: true, parent: "comp", inputs: props("v", 1)},
		custom("resA", props("v", 1)),
		{typ: typA, name: "resD", custom: true, inputs: props("v", 1), deps: []string{"resA"},
			propDeps: map[string][]string{"v": {"resA"}}, deletedWith: "resA"},
		{typ: typA, name: "resE", custom: true, parent: "comp", inputs: props("v", 1), deps: []string{"child"}},
	}
	_, as := g.run(step{name: "aliases-setup", prog: declProgram(aliasV1...)})
	oldComp := urnOf(compT, "comp", "")
	aliasV2 := []decl{
		{typ: typA, name: "resA2", custom: true, inputs: props("v", 1),
			aliasURNs: []resource.URN{urnOf(typA, "resA", "")}},
		component("outer"),
		{typ: compT, name: "comp", parent: "outer", aliasURNs: []resource.URN{oldComp}},
		{typ: typA, name: "child", custom: true, parent: "comp", inputs: props("v", 1),
			aliasURNs: []resource.URN{urnOf(typA, "child", compT)}},
		{typ: typA, name: "resD", custom: true, inputs: props("v", 1), deps: []string{"resA2"},
			propDeps: map[string][]string{"v": {"resA2"}}, deletedWith: "resA2"},
		{typ: typA, name: "resE", custom: true, parent: "comp", inputs: props("v", 1), deps: []string{"child"},
			aliasURNs: []resource.URN{urnOf(typA, "resE", compT)}},
	}
	res, _ = g.run(step{name: "aliases", base: as, prog: declProgram(aliasV2...)})
	g.record("aliases", "update that renames resA to resA2 and re-parents component comp under a new component "+
		"outer, with aliases; children of comp and resources depending on resA follow", res)
	g.recordPrefix("aliases-truncated", "the aliases journal cut after resA2's same step: base resources still "+
		"refer to the old URN of resA, which the replayer's NormalizeURNReferences rewrites", res,
		g.cutAfter("aliases-truncated", res, successOf("resA2")))
	g.recordPrefix("aliases-reparent-truncated", "the aliases journal cut after comp's same step under outer: "+
		"base children of comp get URNs under the new parent", res,
		g.cutAfter("aliases-reparent-truncated", res, func(e apitype.JournalEntry) bool {
			return e.Kind == apitype.JournalEntryKindSuccess && e.State != nil && e.State.URN.Name() == "comp"
		}))

	// Destroy.
	res, _ = g.run(step{name: "destroy", base: s1, op: destroy})
	g.record("destroy", "destroy of the whole stack, including the default provider", res)
	res, _ = g.run(step{name: "destroy-failed", base: s1, op: destroy, prov: provConf{failDelete: set("resA")},
		wantErr: true})
	g.record("destroy-failed", "destroy where the delete of resA fails", res)

	// Protect and retainOnDelete.
	prDecls := []decl{
		{typ: typA, name: "resProt", custom: true, protect: true, inputs: props("v", 1)},
		{typ: typA, name: "resRet", custom: true, retain: true, inputs: props("v", 1)},
		custom("resPlain", props("v", 1)),
	}
	_, ps := g.run(step{name: "protect-setup", prog: declProgram(prDecls...)})
	res, _ = g.run(step{name: "retain-on-delete", base: ps, prog: declProgram(prDecls[0], prDecls[2])})
	g.record("retain-on-delete", "update that drops a retainOnDelete resource: removed from the state without a "+
		"provider delete", res)
	res, _ = g.run(step{name: "protect", base: ps, prog: declProgram(prDecls[1], prDecls[2]), wantErr: true})
	g.record("protect", "update that drops a protected resource: the delete is refused and the update fails", res)
	res, _ = g.run(step{name: "unprotect", base: ps, prog: declProgram(
		decl{typ: typA, name: "resProt", custom: true, inputs: props("v", 1)}, prDecls[1], prDecls[2])})
	g.record("unprotect", "update that removes protect from a resource (a same step that must be written)", res)

	// A component tree with default and explicit providers, and a read resource.
	treeV1 := []decl{
		{typ: provTyp, name: "prov1", custom: true, inputs: props("region", "a")},
		component("tree"),
		{typ: compT, name: "branch", parent: "tree"},
		{typ: typA, name: "leaf1", custom: true, parent: "branch", inputs: props("v", 1)},
		{typ: typA, name: "leaf2", custom: true, parent: "branch", provider: "prov1", inputs: props("v", 1),
			deps: []string{"leaf1"}},
		{typ: typA, name: "readRes", parent: "tree", read: "ext-1", inputs: props("v", 1)},
		outputs("branch", props("leaves", 2)),
		outputs("tree", props("ok", true)),
	}
	res, ts := g.run(step{name: "providers-component-tree", prog: declProgram(treeV1...)})
	g.record("providers-component-tree", "update from no state: an explicit provider, the default provider, a "+
		"component tree, custom resources using each provider, and a read resource", res)
	treeV2 := []decl{
		{typ: provTyp, name: "prov1", custom: true, inputs: props("region", "a")},
		component("tree"),
		{typ: compT, name: "branch", parent: "tree"},
		{typ: typA, name: "leaf1", custom: true, parent: "branch", provider: "prov1", inputs: props("v", 1)},
		{typ: typA, name: "leaf2", custom: true, parent: "branch", provider: "prov1", inputs: props("v", 2),
			deps: []string{"leaf1"}},
		outputs("branch", props("leaves", 2)),
		outputs("tree", props("ok", true)),
	}
	res, _ = g.run(step{name: "providers-change", base: ts, prog: declProgram(treeV2...)})
	g.record("providers-change", "update that moves leaf1 from the default provider to the explicit one, updates "+
		"leaf2, and drops the read resource (read-discard); the default provider is deleted", res)

	// Pending replacement: a delete-before-replace whose delete succeeds and whose create then fails.
	res, pr := g.run(step{name: "pending-replacement", base: s1, prog: declProgram(basic(1, "y", true)...),
		prov: provConf{failCreate: set("resA")}, wantErr: true})
	g.record("pending-replacement", "delete-before-replace of resA where the delete succeeds and the create fails: "+
		"resA stays in the state marked pendingReplacement", res)
	res, _ = g.run(step{name: "pending-replacement-retry", base: pr, prog: declProgram(basic(1, "y", true)...)})
	g.record("pending-replacement-retry", "the same update again on a base where resA is pendingReplacement: the "+
		"create succeeds and removes the pending-replacement state", res)

	// A write entry: a base whose provider has inputs but no outputs is migrated and rewritten first.
	wb := cloneSnap(ts)
	for _, r := range wb.Resources {
		if r.URN.Name() == "prov1" {
			r.Outputs = resource.PropertyMap{}
		}
	}
	res, _ = g.run(step{name: "write-base", base: wb, prog: declProgram(treeV1...)})
	g.record("write-base", "update on a base whose explicit provider has inputs but no outputs (an old CLI's "+
		"state): the engine migrates it and sends a write entry with the new base before the steps", res)

	// Snippets (`pulumi up` with PCL snippet upserts): a snippets entry carries the snippet list.
	snippetID := uuid.Must(uuid.FromString("5b7f6a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"))
	res, _ = g.run(step{name: "snippets", base: s1, prog: basicProg, opts: engine.UpdateOptions{
		Snippets: map[uuid.UUID]*resource.Snippet{snippetID: {
			UUID: snippetID.String(), Name: "snippet-res", Type: "pkgA:index:res",
			Descriptor: resource.PackageDescriptor{Name: "pkgA"}, Code: `propA = true`,
		}},
	}})
	g.record("snippets", "update with a PCL snippet upsert: a snippets entry sets the deployment's snippets and "+
		"the snippet registers a resource (snippets features)", res)

	// Extension parameterization.
	extDecls := []decl{
		{name: "ext-a", extension: []byte("blob-a")},
		{typ: typA, name: "extRes", custom: true, packageRef: "ext-a", inputs: props("v", 1)},
		custom("plain", props("v", 1)),
	}
	res, _ = g.run(step{name: "extension-parameterize", prog: declProgram(extDecls...)})
	g.record("extension-parameterize", "update whose program registers an extension parameterization of pkgA and a "+
		"resource using it (extension-parameterize entry; extensions in the deployment)", res)

	// Deleted-with.
	dwDecls := []decl{
		custom("owner", props("v", 1)),
		{typ: typA, name: "owned", custom: true, deletedWith: "owner", inputs: props("v", 1)},
		custom("other", props("v", 1)),
	}
	_, dws := g.run(step{name: "deleted-with-setup", prog: declProgram(dwDecls...)})
	res, _ = g.run(step{name: "deleted-with", base: dws, prog: declProgram(dwDecls[2])})
	g.record("deleted-with", "update that drops owner and owned (deletedWith owner): owned is removed without a "+
		"provider delete", res)

	// Targeted update.
	targeted := basic(2, "x", false)
	targeted[1].inputs = props("v", 5)
	res, _ = g.run(step{name: "targeted-update", base: s1, prog: declProgram(targeted...),
		opts: engine.UpdateOptions{Targets: deploy.NewUrnTargetsFromUrns([]resource.URN{urnOf(typA, "resA", "")})}})
	g.record("targeted-update", "update targeting only resA while resA and resB changed: resA is updated, resB keeps its old state", res)

	// Features: replaceWith, refreshBeforeUpdate, taint.
	fDecls := []decl{
		custom("target", props("v", 1)),
		{typ: typA, name: "follower", custom: true, replaceWith: []string{"target"}, inputs: props("v", 1)},
	}
	_, fs := g.run(step{name: "features-setup", prog: declProgram(fDecls...)})
	for _, r := range fs.Resources {
		if r.URN.Name() == "target" {
			r.Taint = true
		}
	}
	res, _ = g.run(step{name: "features", base: fs, prog: declProgram(fDecls...)})
	g.record("features", "update with a replaceWith dependency and a tainted resource (replaced): the "+
		"deployment needs version 4 and features", res)
}

func cloneSnap(s *deploy.Snapshot) *deploy.Snapshot {
	return lt.CloneSnapshot(&tb{name: "clone"}, s)
}

func findState(s *deploy.Snapshot, name string) *pkgresource.State {
	for _, r := range s.Resources {
		if r.URN.Name() == name {
			return r.Copy()
		}
	}
	panic("no resource " + name)
}

func pendingState(name string, provider string) *pkgresource.State {
	return &pkgresource.State{
		Type:     typA,
		URN:      urnOf(typA, name, ""),
		Custom:   true,
		Inputs:   props("v", 1),
		Outputs:  resource.PropertyMap{},
		Provider: provider,
	}
}
