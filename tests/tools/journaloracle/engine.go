package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pulumi/pulumi/pkg/v3/backend"
	"github.com/pulumi/pulumi/pkg/v3/engine"
	lt "github.com/pulumi/pulumi/pkg/v3/engine/lifecycletest/framework"
	"github.com/pulumi/pulumi/pkg/v3/resource/deploy"
	"github.com/pulumi/pulumi/pkg/v3/resource/deploy/deploytest"
	"github.com/pulumi/pulumi/pkg/v3/resource/plugin"
	"github.com/pulumi/pulumi/pkg/v3/resource/stack"
	"github.com/pulumi/pulumi/pkg/v3/resource/stack/snapshot"
	"github.com/pulumi/pulumi/pkg/v3/secrets"
	"github.com/pulumi/pulumi/pkg/v3/secrets/b64"
	"github.com/pulumi/pulumi/pkg/v3/util/cancel"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/contract"
)

// tb is the minimal lt.TB (and require.TestingT) the lifecycle-test helpers need outside of `go test`. Failures
// panic, so a broken generator or program is loud.
type tb struct{ name string }

func (t *tb) Helper()                         {}
func (t *tb) Name() string                    { return t.name }
func (t *tb) Logf(format string, args ...any) {}
func (t *tb) Log(args ...any)                 {}
func (t *tb) Skipf(format string, args ...any) {
	panic(fmt.Sprintf("skip: "+format, args...))
}
func (t *tb) Skip(args ...any) { panic(fmt.Sprint(append([]any{"skip: "}, args...)...)) }
func (t *tb) SkipNow()         { panic("skip") }
func (t *tb) Errorf(format string, args ...any) {
	panic(fmt.Sprintf("%s: "+format, append([]any{t.name}, args...)...))
}
func (t *tb) Error(args ...any)                 { panic(fmt.Sprint(append([]any{t.name, ": "}, args...)...)) }
func (t *tb) Fatalf(format string, args ...any) { t.Errorf(format, args...) }
func (t *tb) Fatal(args ...any)                 { t.Error(args...) }
func (t *tb) FailNow()                          { panic(t.name + ": FailNow") }
func (t *tb) Fail()                             { panic(t.name + ": Fail") }
func (t *tb) Failed() bool                      { return false }

// capturingJournal is an engine.Journal that serializes every entry exactly the way the CLI's cloud journaler does
// (pkg/backend/httpstate/journal: stack.BatchEncrypt + backend.SerializeJournalEntry) and keeps the JSON it would
// send. The JSON is taken at send time: the replayer later mutates the states it is given.
type capturingJournal struct {
	sm      secrets.Manager
	mu      sync.Mutex
	entries []capturedEntry
}

type capturedEntry struct {
	seq  int64
	json []byte
}

func (j *capturingJournal) AddJournalEntry(entry engine.JournalEntry) error {
	serialized, err := stack.BatchEncrypt(context.Background(), j.sm,
		func(ctx context.Context, enc config.Encrypter) (apitype.JournalEntry, error) {
			return backend.SerializeJournalEntry(ctx, entry, enc)
		})
	if err != nil {
		return fmt.Errorf("serializing journal entry: %w", err)
	}
	if serialized.Version != 1 || serialized.Kind > apitype.JournalEntryKindSnippets {
		return fmt.Errorf("engine emitted a journal entry the v1 protocol does not allow: version %d kind %d",
			serialized.Version, serialized.Kind)
	}
	b, err := json.Marshal(serialized)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, capturedEntry{seq: serialized.SequenceID, json: b})
	return nil
}

func (j *capturingJournal) Close() error { return nil }

// sorted returns the entries in sequence-ID order (the order the engine created them in; arrival order can differ
// when steps run concurrently).
func (j *capturingJournal) sorted() [][]byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	es := slices.Clone(j.entries)
	slices.SortFunc(es, func(a, b capturedEntry) int { return int(a.seq - b.seq) })
	out := make([][]byte, len(es))
	for i, e := range es {
		out[i] = e.json
	}
	return out
}

// engineRun is one engine operation to execute and record.
type engineRun struct {
	name    string
	base    *deploy.Snapshot
	op      lt.TestOp
	opts    engine.UpdateOptions
	hostF   deploytest.PluginHostFactory
	sm      secrets.Manager // the stack's secrets manager for this operation; b64 when nil
	project string
	stack   string
	timeout time.Duration
}

// engineResult is what one engineRun produced, before normalization.
type engineResult struct {
	base       []byte   // JSON of the apitype.DeploymentV3 the operation started from, nil when there was none
	entries    [][]byte // JSON of each apitype.JournalEntry, in sequence-ID order
	checkpoint *apitype.DeploymentV3
	replayed   apitype.TypedDeployment // replayer over base+entries (un-normalized)
	opErr      error
}

var errTimeout = errors.New("engine operation timed out")

// execute runs an engine operation the way pkg/engine/lifecycletest/framework does, but with a journal v1
// snapshot manager (as the CLI uses against a service answering journalVersion 1) next to the checkpoint
// snapshot manager, and checks that replaying the journal gives the checkpoint.
func execute(r engineRun) (*engineResult, error) {
	t := &tb{name: r.name}
	p := &lt.TestPlan{Project: r.project, Stack: r.stack}
	project := p.GetProject()
	target := p.GetTarget(t, nil)
	sm := r.sm
	if sm == nil {
		sm = b64.NewBase64SecretsManager()
	}

	// The base is what the CLI exports (SerializeDeploymentWithMetadata); the engine gets a fresh snapshot
	// deserialized from it, as the CLI does after `stack export`, so a base can be reused for several runs.
	res := &engineResult{}
	if r.base != nil {
		dep, _, _, err := stack.SerializeDeploymentWithMetadata(context.Background(), r.base, false)
		if err != nil {
			return nil, fmt.Errorf("serializing base: %w", err)
		}
		if res.base, err = json.Marshal(dep); err != nil {
			return nil, err
		}
		if target.Snapshot, err = deserialize(res.base); err != nil {
			return nil, fmt.Errorf("deserializing base: %w", err)
		}
	}

	var validationErrs []error
	var vmu sync.Mutex
	persister := &backend.ValidatingPersister{ErrorFunc: func(err error) {
		if err != nil {
			vmu.Lock()
			validationErrs = append(validationErrs, err)
			vmu.Unlock()
		}
	}}
	journal := &capturingJournal{sm: sm}
	journalManager, err := engine.NewJournalSnapshotManagerWithVersion(journal, target.Snapshot, sm, 1)
	if err != nil {
		return nil, err
	}
	checkpointManager := backend.NewSnapshotManager(persister, sm, target.Snapshot, nil)
	combined := &engine.CombinedManager{
		Managers:          []engine.SnapshotManager{journalManager, checkpointManager},
		CollectErrorsOnly: []bool{false, true},
	}

	cancelCtx, cancelSrc := cancel.NewContext(context.Background())
	defer cancelSrc.Terminate()
	events := make(chan engine.Event)
	drained := make(chan struct{})
	var diags []string
	go func() {
		for e := range events {
			if e.Type == engine.DiagEvent {
				if p := e.Payload().(engine.DiagEventPayload); p.Severity == diag.Error {
					diags = append(diags, p.Message)
				}
			}
		}
		close(drained)
	}()
	ctx := &engine.Context{
		Cancel:                      cancelCtx,
		Events:                      events,
		PluginManager:               lt.NopPluginManager{},
		SnapshotManager:             combined,
		SnapshotManagerCapabilities: engine.SnapshotManagerCapabilities{StateMigrations: false},
	}
	opts := r.opts
	opts.Parallel = 1
	host := r.hostF()
	defer contract.IgnoreClose(host)
	opts.HostFactory = func(context.Context, diag.Sink, diag.Sink, plugin.DebugContext) (plugin.Host, error) {
		return host, nil
	}
	info := lt.NewUpdateInfo(project, target)

	done := make(chan error, 1)
	go func() {
		defer func() {
			if x := recover(); x != nil {
				done <- fmt.Errorf("panic: %v", x)
			}
		}()
		_, _, opErr := r.op(info, ctx, opts, false)
		done <- opErr
	}()
	timeout := r.timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	select {
	case res.opErr = <-done:
	case <-time.After(timeout):
		cancelSrc.Cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		return nil, errTimeout
	}
	close(events)
	<-drained
	if res.opErr != nil && len(diags) > 0 {
		res.opErr = fmt.Errorf("%w %v", res.opErr, diags)
	}
	if err := combined.Close(); err != nil {
		return nil, fmt.Errorf("closing snapshot managers: %w", err)
	}
	if err := errors.Join(combined.Errors()...); err != nil {
		return nil, fmt.Errorf("snapshot manager errors: %w", err)
	}
	if err := errors.Join(validationErrs...); err != nil {
		return nil, fmt.Errorf("checkpoint integrity: %w", err)
	}
	if res.opErr != nil && isPanic(res.opErr) {
		return nil, res.opErr
	}

	res.entries = journal.sorted()
	// Round-trip the checkpoint through JSON, as it would be stored (in memory secrets are *apitype.SecretV1).
	if persister.Snap != nil {
		b, err := json.Marshal(persister.Snap)
		if err != nil {
			return nil, err
		}
		res.checkpoint = &apitype.DeploymentV3{}
		if err := json.Unmarshal(b, res.checkpoint); err != nil {
			return nil, err
		}
	}

	replayed, err := replayJSON(res.base, res.entries)
	if err != nil {
		return nil, fmt.Errorf("replaying journal: %w", err)
	}
	res.replayed = replayed
	if err := snapshot.AssertEqual(res.checkpoint, replayed.Deployment); err != nil {
		return nil, fmt.Errorf("journal replay differs from the checkpoint snapshot manager: %w", err)
	}
	return res, nil
}

func isPanic(err error) bool {
	return err != nil && (len(err.Error()) >= 6 && err.Error()[:6] == "panic:")
}

// snapshotOf turns a replayed deployment into the snapshot the next operation starts from, as the CLI would after
// exporting the stack.
func snapshotOf(td apitype.TypedDeployment) (*deploy.Snapshot, error) {
	b, err := json.Marshal(td.Deployment)
	if err != nil {
		return nil, err
	}
	return deserialize(b)
}

func deserialize(b []byte) (*deploy.Snapshot, error) {
	var dep apitype.DeploymentV3
	if err := json.Unmarshal(b, &dep); err != nil {
		return nil, err
	}
	return stack.DeserializeDeploymentV3(context.Background(), dep, secretsProvider{})
}

// secretsProvider knows the two secrets managers the scenarios use.
type secretsProvider struct{}

func (secretsProvider) OfType(ctx context.Context, ty string, state json.RawMessage) (secrets.Manager, error) {
	switch ty {
	case b64.Type:
		return b64.NewBase64SecretsManager(), nil
	case altSecretsManager{}.Type():
		return altSecretsManager{}, nil
	}
	return nil, fmt.Errorf("no known secrets provider for type %q", ty)
}

// The engine schedules independent deletes in Go map order (resource/deploy: stepGenerator.ScheduleDeletes
// iterates a set), so the order of their journal entries (and of the operation IDs) differs from run to run even
// with one worker; likewise a registered resource's dependency list comes from a set. Every such variant is a
// journal the CLI can send. To make the fixtures reproducible, an operation is run repeatedly and the run whose
// normalized journal sorts first is kept: minRuns runs, and ambiguousRuns once a second variant has shown up (a
// variant can be as rare as 1/64 with two independent pairs, so the chance of missing it is about 1e-5).
// Random scenarios additionally drop cases that may vary (see unstable).
const (
	minRuns       = 12
	ambiguousRuns = 700
)

type canonicalStats struct {
	runs, ambiguous int
}

var canon canonicalStats

func runKey(res *engineResult) (string, error) {
	n := newNormalizer()
	var b bytes.Buffer
	nb, err := n.deployment(res.base)
	if err != nil {
		return "", err
	}
	b.Write(nb)
	for _, e := range res.entries {
		ne, err := n.entry(e)
		if err != nil {
			return "", err
		}
		b.WriteByte('\n')
		b.Write(ne)
	}
	return b.String(), nil
}

// executeCanonical runs r until its journal is the canonical one (see above). Any failing run fails the whole.
func executeCanonical(r engineRun) (*engineResult, error) {
	var best *engineResult
	var bestKey string
	variants := map[string]bool{}
	for runs := 1; ; runs++ {
		res, err := execute(r)
		canon.runs++
		if err != nil {
			return nil, err
		}
		key, err := runKey(res)
		if err != nil {
			return nil, err
		}
		variants[key] = true
		if best == nil || key < bestKey {
			best, bestKey = res, key
		}
		if len(variants) > 1 && (res.opErr != nil) != (best.opErr != nil) {
			return nil, fmt.Errorf("runs of %s disagree on failing", r.name)
		}
		if (runs >= minRuns && len(variants) == 1) || runs >= ambiguousRuns {
			break
		}
	}
	if len(variants) > 1 {
		canon.ambiguous++
	}
	return best, nil
}
