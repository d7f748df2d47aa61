package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"pgregory.net/rapid"

	"github.com/pulumi/pulumi/pkg/v3/engine/lifecycletest/fuzzing"
	"github.com/pulumi/pulumi/pkg/v3/resource/deploy"
	"github.com/pulumi/pulumi/pkg/v3/resource/deploy/deploytest"
	"github.com/pulumi/pulumi/pkg/v3/secrets/b64"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/providers"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// fuzzCase is one draw of pulumi's lifecycle-test fuzzer (pkg/engine/lifecycletest/fuzzing): a random base
// snapshot (with providers, dependencies, parents, deleted and protected resources, ...), a random program
// against it, random provider behaviour (failing creates/updates/deletes, replacing diffs, vanishing reads), and a
// random operation (update, refresh, refresh v2, destroy, destroy v2, possibly targeted or with --refresh).
type fuzzCase struct {
	snap *fuzzing.SnapshotSpec
	prog *fuzzing.ProgramSpec
	prov *fuzzing.ProviderSpec
	plan *fuzzing.PlanSpec
}

var stackOpts = fuzzing.StackSpecOptions{Project: "test-project", Stack: "test-stack"}

func fuzzGen(planOpts fuzzing.PlanSpecOptions) *rapid.Generator[*fuzzCase] {
	return rapid.Custom(func(t *rapid.T) *fuzzCase {
		snap := fuzzing.GeneratedSnapshotSpec(stackOpts, fuzzing.SnapshotSpecOptions{}).Draw(t, "SnapshotSpec")
		prog := fuzzing.GeneratedProgramSpec(snap, stackOpts, fuzzing.ProgramSpecOptions{}).Draw(t, "ProgramSpec")
		prov := fuzzing.GeneratedProviderSpec(prog, fuzzing.ProviderSpecOptions{}).Draw(t, "ProviderSpec")
		plan := fuzzing.GeneratedPlanSpec(snap, planOpts).Draw(t, "PlanSpec")
		return &fuzzCase{snap: snap, prog: prog, prov: prov, plan: plan}
	})
}

var (
	// The fuzzer's own mix of operations (update, refresh, refresh v2, destroy, destroy v2).
	anyOpGen = fuzzGen(fuzzing.PlanSpecOptions{})
	// Updates only, which journal the most kinds of steps.
	updateGen = fuzzGen(fuzzing.PlanSpecOptions{Operation: rapid.Just(fuzzing.PlanOperationUpdate)})
)

func drawCase(seed int) (c *fuzzCase, err error) {
	defer func() {
		if x := recover(); x != nil {
			err = fmt.Errorf("generator panicked: %v", x)
		}
	}()
	if seed%2 == 0 {
		return anyOpGen.Example(seed), nil
	}
	return updateGen.Example(seed), nil
}

type randomStats struct {
	attempts, excluded, timeouts, divergent, genFailures, full, prefixes, resumeAttempts, resumed, unstable int
}

// generateRandom produces n engine scenarios (plus prefix scenarios for about half of them) from the fuzzer,
// drawing case i with rapid seed `seed + i` and choosing prefix cuts with a PCG seeded from `seed`.
func generateRandom(seed int64, n int) ([]fixture, randomStats) {
	var st randomStats
	var out []fixture
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6a6f75726e616c))
	exclusions := fuzzing.DefaultExclusionRules()
	for st.full < n {
		st.attempts++
		c, err := drawCase(int(seed) + st.attempts)
		if err != nil {
			st.genFailures++
			continue
		}
		if exclusions.ShouldExclude(c.snap, c.prog, c.prov, c.plan) {
			st.excluded++
			continue
		}
		t := &tb{name: fmt.Sprintf("random-%d", st.attempts)}
		opts, op := c.plan.Executors(t, nil)
		base := c.snap.AsSnapshot()
		base.SecretsManager = b64.NewBase64SecretsManager()
		run := func(base *deploy.Snapshot) (*engineResult, error) {
			return executeCanonical(engineRun{
				name: t.name,
				base: base,
				op:   op,
				opts: opts.UpdateOptions,
				hostF: deploytest.NewPluginHostF(nil, nil, c.prog.AsLanguageRuntimeF(t), nil, nil,
					c.prov.AsProviderLoaders()...),
				project: stackOpts.Project,
				stack:   stackOpts.Stack,
				timeout: 30 * time.Second,
			})
		}
		res, err := run(base)
		if errors.Is(err, errTimeout) {
			st.timeouts++
			continue
		}
		if err != nil {
			st.divergent++
			fmt.Fprintf(os.Stderr, "DIVERGENT: fuzz case %d (%s): %v\n", st.attempts, c.plan.Operation, err)
			continue
		}
		if unstable(res) {
			st.unstable++
			continue
		}
		st.full++
		desc := fmt.Sprintf("fuzzer case (rapid seed %d): %s", int(seed)+st.attempts, describePlan(c.plan, opts.Refresh, opts.RefreshProgram))
		if res.opErr != nil {
			desc += " (the operation fails)"
		}
		name := fmt.Sprintf("random-%04d", len(out)+1)
		f, err := makeFixture(name, desc, "engine", res.base, res.entries, &res.replayed)
		if err != nil {
			panic(err)
		}
		out = append(out, f)
		if len(res.entries) >= 3 && rng.IntN(2) == 0 {
			cut := 1 + rng.IntN(len(res.entries)-2)
			pname := fmt.Sprintf("random-%04d", len(out)+1)
			f, err := makeFixture(pname, fmt.Sprintf("%s cut after entry %d of %d", name, cut, len(res.entries)),
				"engine-prefix", res.base, res.entries[:cut], nil)
			if err != nil {
				panic(err)
			}
			out = append(out, f)
			st.prefixes++

			// Sometimes run the case again on the state the killed CLI left behind (which may carry
			// pending operations, deletes and pending replacements). Skipped when the engine refuses it.
			if rng.IntN(2) == 0 {
				st.resumeAttempts++
				td, err := replayJSON(res.base, res.entries[:cut])
				if err != nil {
					panic(err)
				}
				left, err := snapshotOf(td)
				if err != nil {
					continue
				}
				res2, err := run(left)
				if err != nil || unstable(res2) {
					continue
				}
				rname := fmt.Sprintf("random-%04d", len(out)+1)
				f, err := makeFixture(rname, fmt.Sprintf("the operation of %s again, on the state %s leaves", name, pname),
					"engine", res2.base, res2.entries, &res2.replayed)
				if err != nil {
					panic(err)
				}
				out = append(out, f)
				st.resumed++
			}
		}
	}
	return out, st
}

func describePlan(p *fuzzing.PlanSpec, refresh, refreshProgram bool) string {
	s := string(p.Operation)
	if len(p.TargetURNs) > 0 {
		s += fmt.Sprintf(", %d targets", len(p.TargetURNs))
	}
	if refresh {
		s += ", refresh"
	}
	if refreshProgram {
		s += ", refresh program"
	}
	return s
}

// unstable reports whether a fuzz case's journal may differ between runs in a way the repeated runs of
// executeCanonical cannot be trusted to pin down: a state registered with two or more dependencies (the engine
// builds those lists from a set, so their order varies) or two delete operations not ordered by a dependency
// (the engine schedules independent deletes in map order), or the delete of a resource already marked for deletion
// (its timing against the program's registrations varies). The tests are independent of the order seen.
func unstable(res *engineResult) bool {
	es, err := decodeEntries(res.entries)
	if err != nil {
		panic(err)
	}
	var deleted []apitype.ResourceV3
	for _, e := range es {
		for _, r := range []*apitype.ResourceV3{e.State, opResource(e)} {
			if r == nil {
				continue
			}
			if len(r.Dependencies) > 1 || len(r.ReplaceWith) > 1 || len(r.Aliases) > 1 {
				return true
			}
			for _, deps := range r.PropertyDependencies {
				if len(deps) > 1 {
					return true
				}
			}
		}
		if e.Kind == apitype.JournalEntryKindBegin && e.Operation != nil &&
			e.Operation.Type == apitype.OperationTypeDeleting {
			// Deleting a resource already marked for deletion races with the program's registrations.
			if e.Operation.Resource.Delete {
				return true
			}
			deleted = append(deleted, e.Operation.Resource)
		}
	}
	// Every two deleted resources must be ordered by (transitive) dependency.
	n := len(deleted)
	reach := make([][]bool, n)
	for i := range reach {
		reach[i] = make([]bool, n)
	}
	for i, r := range deleted {
		deps := map[resource.URN]bool{r.Parent: true, r.DeletedWith: true}
		for _, d := range r.Dependencies {
			deps[d] = true
		}
		for _, ds := range r.PropertyDependencies {
			for _, d := range ds {
				deps[d] = true
			}
		}
		if ref, err := providers.ParseReference(r.Provider); err == nil && r.Provider != "" {
			deps[ref.URN()] = true
		}
		for j, o := range deleted {
			if i != j && deps[o.URN] {
				reach[i][j] = true
			}
		}
	}
	for k := range n {
		for i := range n {
			for j := range n {
				if reach[i][k] && reach[k][j] {
					reach[i][j] = true
				}
			}
		}
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			if !reach[i][j] && !reach[j][i] {
				return true
			}
		}
	}
	return false
}

func opResource(e apitype.JournalEntry) *apitype.ResourceV3 {
	if e.Operation == nil {
		return nil
	}
	return &e.Operation.Resource
}
