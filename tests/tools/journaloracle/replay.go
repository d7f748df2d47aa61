package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/pulumi/pulumi/pkg/v3/backend"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// fixedTime replaces every timestamp (resource created/modified, manifest time) so that the output is reproducible.
var fixedTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var fixedManifest = apitype.ManifestV1{Time: fixedTime, Magic: "", Version: ""}

// fixture is one scenario, in the format documented in README.md.
type fixture struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Source      string            `json:"source"`
	Base        json.RawMessage   `json:"base"`
	Entries     []json.RawMessage `json:"entries"`
	Expected    json.RawMessage   `json:"expected"`
}

// untypedExpected is apitype.TypedDeployment in the untyped form the CLI uploads.
type untypedExpected struct {
	Version    int                   `json:"version"`
	Features   []string              `json:"features,omitempty"`
	Deployment *apitype.DeploymentV3 `json:"deployment"`
}

// decodeEntries decodes fresh copies of the entries (the replayer mutates what it is given).
func decodeEntries(entries [][]byte) ([]apitype.JournalEntry, error) {
	out := make([]apitype.JournalEntry, len(entries))
	for i, b := range entries {
		if err := json.Unmarshal(b, &out[i]); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return out, nil
}

// replayJSON is the oracle: backend.NewJournalReplayer(base) + Add(every entry) + GenerateDeployment(), on fresh
// copies decoded from JSON. An absent base is an empty DeploymentV3, as the CLI uses. The pending operations that
// GenerateDeployment takes from its incompleteOps map (in Go's random map order) are sorted by the operation ID of
// their begin entry; the base's pending creates, which GenerateDeployment appends after them, keep their order.
func replayJSON(base []byte, entries [][]byte) (apitype.TypedDeployment, error) {
	dep := &apitype.DeploymentV3{}
	if base != nil {
		if err := json.Unmarshal(base, dep); err != nil {
			return apitype.TypedDeployment{}, fmt.Errorf("base: %w", err)
		}
	}
	es, err := decodeEntries(entries)
	if err != nil {
		return apitype.TypedDeployment{}, err
	}

	replayer := backend.NewJournalReplayer(dep)
	// Mirror of the replayer's incompleteOps, to know which pending operations came from the map.
	incomplete := map[int64][]byte{}
	for i, e := range es {
		// The operation as the replayer will report it (marshaled before Add: nothing mutates operations).
		var opJSON []byte
		if e.Kind == apitype.JournalEntryKindBegin && e.Operation != nil {
			if opJSON, err = json.Marshal(e.Operation); err != nil {
				return apitype.TypedDeployment{}, err
			}
		}
		if err := replayer.Add(e); err != nil {
			return apitype.TypedDeployment{}, fmt.Errorf("adding entry %d: %w", i, err)
		}
		switch e.Kind {
		case apitype.JournalEntryKindBegin:
			incomplete[e.OperationID] = opJSON
		case apitype.JournalEntryKindSuccess, apitype.JournalEntryKindFailure,
			apitype.JournalEntryKindRefreshSuccess:
			delete(incomplete, e.OperationID)
		case apitype.JournalEntryKindRebuiltBaseState:
			incomplete = map[int64][]byte{}
		}
	}
	td, err := replayer.GenerateDeployment()
	if err != nil {
		return apitype.TypedDeployment{}, fmt.Errorf("GenerateDeployment: %w", err)
	}

	var ids []int64
	for id, op := range incomplete {
		if op != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ops := td.Deployment.PendingOperations
	if len(ops) < len(ids) {
		return apitype.TypedDeployment{}, fmt.Errorf("expected at least %d pending operations, got %d", len(ids), len(ops))
	}
	head := make([][]byte, len(ids))
	for i := range ids {
		if head[i], err = json.Marshal(ops[i]); err != nil {
			return apitype.TypedDeployment{}, err
		}
	}
	sorted := make([]apitype.OperationV2, len(ids))
	used := make([]bool, len(ids))
	for i, id := range ids {
		found := false
		for j := range head {
			if !used[j] && bytes.Equal(head[j], incomplete[id]) {
				used[j], found = true, true
				sorted[i] = ops[j]
				break
			}
		}
		if !found {
			return apitype.TypedDeployment{}, fmt.Errorf("pending operation of begin %d not found in the deployment", id)
		}
	}
	copy(ops, sorted)
	td.Deployment.Manifest = fixedManifest
	return td, nil
}

func expectedJSON(td apitype.TypedDeployment) ([]byte, error) {
	return json.Marshal(untypedExpected{Version: td.Version, Features: td.Features, Deployment: td.Deployment})
}

// normalizer makes engine output reproducible: UUIDs (provider IDs, default IDs of deploytest providers) become
// 00000000-0000-4000-8000-NNNNNNNNNNNN in order of first appearance, and every timestamp becomes fixedTime. Both
// are opaque to the replayer, so replaying normalized input gives the normalized replay of the raw input (checked).
type normalizer struct {
	ids map[string]string
}

var uuidRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func newNormalizer() *normalizer { return &normalizer{ids: map[string]string{}} }

func (n *normalizer) text(b []byte) []byte {
	return uuidRe.ReplaceAllFunc(b, func(m []byte) []byte {
		s := string(m)
		v, ok := n.ids[s]
		if !ok {
			v = fmt.Sprintf("00000000-0000-4000-8000-%012d", len(n.ids)+1)
			n.ids[s] = v
		}
		return []byte(v)
	})
}

func normResource(r *apitype.ResourceV3) {
	if r.Created != nil {
		r.Created = &fixedTime
	}
	if r.Modified != nil {
		r.Modified = &fixedTime
	}
}

func normDeployment(d *apitype.DeploymentV3) {
	if d == nil {
		return
	}
	d.Manifest = fixedManifest
	for i := range d.Resources {
		normResource(&d.Resources[i])
	}
	for i := range d.PendingOperations {
		normResource(&d.PendingOperations[i].Resource)
	}
}

func (n *normalizer) deployment(b []byte) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	var d apitype.DeploymentV3
	if err := json.Unmarshal(n.text(b), &d); err != nil {
		return nil, err
	}
	normDeployment(&d)
	return json.Marshal(&d)
}

func (n *normalizer) entry(b []byte) ([]byte, error) {
	var e apitype.JournalEntry
	if err := json.Unmarshal(n.text(b), &e); err != nil {
		return nil, err
	}
	if e.State != nil {
		normResource(e.State)
	}
	if e.Operation != nil {
		normResource(&e.Operation.Resource)
	}
	normDeployment(e.NewSnapshot)
	return json.Marshal(&e)
}

// makeFixture normalizes base and entries, and computes the expected deployment with the replayer. raw, when not
// nil, is the replay of the un-normalized input, which must normalize to the same thing.
func makeFixture(name, description, source string, base []byte, entries [][]byte,
	raw *apitype.TypedDeployment,
) (fixture, error) {
	n := newNormalizer()
	nb, err := n.deployment(base)
	if err != nil {
		return fixture{}, fmt.Errorf("%s: normalizing base: %w", name, err)
	}
	ne := make([][]byte, len(entries))
	for i, e := range entries {
		if ne[i], err = n.entry(e); err != nil {
			return fixture{}, fmt.Errorf("%s: normalizing entry %d: %w", name, i, err)
		}
	}
	td, err := replayJSON(nb, ne)
	if err != nil {
		return fixture{}, fmt.Errorf("%s: %w", name, err)
	}
	exp, err := expectedJSON(td)
	if err != nil {
		return fixture{}, err
	}
	if raw != nil {
		rawJSON, err := expectedJSON(*raw)
		if err != nil {
			return fixture{}, err
		}
		var rawTD untypedExpected
		if err := json.Unmarshal(n.text(rawJSON), &rawTD); err != nil {
			return fixture{}, err
		}
		normDeployment(rawTD.Deployment)
		again, err := json.Marshal(rawTD)
		if err != nil {
			return fixture{}, err
		}
		if !bytes.Equal(again, exp) {
			return fixture{}, fmt.Errorf("%s: normalization changed the replay result:\n%s\n%s", name, again, exp)
		}
	}
	f := fixture{Name: name, Description: description, Source: source, Expected: exp}
	if nb == nil {
		f.Base = json.RawMessage("null")
	} else {
		f.Base = nb
	}
	f.Entries = make([]json.RawMessage, len(ne))
	for i, e := range ne {
		f.Entries[i] = e
	}
	return f, nil
}
