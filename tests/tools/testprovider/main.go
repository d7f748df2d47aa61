// pulumi-resource-procella-test: a tiny resource provider for procella's
// end-to-end tests. It manages one resource type, procella-test:index:Item,
// whose "real" state is a JSON file per resource id in the folder named by
// PROCELLA_TEST_PROVIDER_STATE (a temp folder when unset), so a test can check
// that create/update/replace/delete really happened and can edit or remove a
// file to make `pulumi refresh` see drift.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

const (
	providerName    = "procella-test"
	providerVersion = "0.1.0"
	stateEnvVar     = "PROCELLA_TEST_PROVIDER_STATE"
)

func main() {
	prov, err := infer.NewProviderBuilder().
		WithNamespace("procella").
		WithDisplayName("procella-test").
		WithDescription("Test resources for procella's end-to-end tests.").
		WithResources(infer.Resource(&Item{})).
		Build()
	if err == nil {
		err = prov.Run(context.Background(), providerName, providerVersion)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		os.Exit(1)
	}
}

// Item is procella-test:index:Item.
type Item struct{}

// ItemArgs are the inputs of an Item.
type ItemArgs struct {
	Value        string  `pulumi:"value"`
	ReplaceKey   *string `pulumi:"replaceKey,optional" provider:"replaceOnChanges"`
	SleepSeconds *int    `pulumi:"sleepSeconds,optional"`
	FailWith     *string `pulumi:"failWith,optional"`
}

// ItemState is the state (outputs) of an Item; the id is the resource id.
type ItemState struct {
	ItemArgs
}

func (i *Item) Annotate(a infer.Annotator) {
	a.Describe(i, "A test item whose real state is a JSON file named <id>.json in $"+stateEnvVar+".")
}

func (a *ItemArgs) Annotate(an infer.Annotator) {
	an.Describe(&a.Value, "Any string; changing it updates the item in place.")
	an.Describe(&a.ReplaceKey, "Changing it forces a replacement (create a new item, then delete the old one).")
	an.Describe(&a.SleepSeconds, "Create and Update sleep this many seconds before writing (cancelled with the request).")
	an.Describe(&a.FailWith, "When set, Create and Update fail with this message (after any sleep) and write nothing.")
}

var (
	_ infer.CustomResource[ItemArgs, ItemState] = (*Item)(nil)
	_ infer.CustomUpdate[ItemArgs, ItemState]   = (*Item)(nil)
	_ infer.CustomRead[ItemArgs, ItemState]     = (*Item)(nil)
	_ infer.CustomDelete[ItemState]             = (*Item)(nil)
)

// record is what is stored in <stateDir>/<id>.json.
type record struct {
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	Value        string  `json:"value"`
	ReplaceKey   *string `json:"replaceKey,omitempty"`
	SleepSeconds *int    `json:"sleepSeconds,omitempty"`
	Updated      string  `json:"updated"`
}

func stateDir() (string, error) {
	dir := os.Getenv(stateEnvVar)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "procella-test-provider-state")
	}
	return dir, os.MkdirAll(dir, 0o755)
}

func recordPath(id string) (string, error) {
	if id == "" || filepath.Base(id) != id || id == "." || id == ".." {
		return "", fmt.Errorf("invalid item id %q", id)
	}
	dir, err := stateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, id+".json"), nil
}

func writeRecord(r record) error {
	path, err := recordPath(r.ID)
	if err != nil {
		return err
	}
	r.Updated = time.Now().UTC().Format(time.RFC3339Nano)
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readRecord returns (nil, nil) when the item's file does not exist.
func readRecord(id string) (*record, error) {
	path, err := recordPath(id)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

func sleep(ctx context.Context, secs *int) error {
	if secs == nil || *secs <= 0 {
		return nil
	}
	p.GetLogger(ctx).Infof("sleeping %d seconds", *secs)
	t := time.NewTimer(time.Duration(*secs) * time.Second)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// failure is the error a FailWith input asks for.
func failure(msg *string) error {
	if msg == nil || *msg == "" {
		return nil
	}
	return errors.New(*msg)
}

func newID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "item-" + hex.EncodeToString(b), nil
}

func (*Item) Create(ctx context.Context, req infer.CreateRequest[ItemArgs]) (infer.CreateResponse[ItemState], error) {
	out := ItemState{ItemArgs: req.Inputs}
	if req.DryRun {
		return infer.CreateResponse[ItemState]{Output: out}, nil
	}
	if err := sleep(ctx, req.Inputs.SleepSeconds); err != nil {
		return infer.CreateResponse[ItemState]{}, err
	}
	if err := failure(req.Inputs.FailWith); err != nil {
		return infer.CreateResponse[ItemState]{}, err
	}
	id, err := newID()
	if err != nil {
		return infer.CreateResponse[ItemState]{}, err
	}
	err = writeRecord(record{
		ID: id, Name: req.Name, Value: req.Inputs.Value,
		ReplaceKey: req.Inputs.ReplaceKey, SleepSeconds: req.Inputs.SleepSeconds,
	})
	if err != nil {
		return infer.CreateResponse[ItemState]{}, err
	}
	return infer.CreateResponse[ItemState]{ID: id, Output: out}, nil
}

func (*Item) Update(ctx context.Context, req infer.UpdateRequest[ItemArgs, ItemState]) (infer.UpdateResponse[ItemState], error) {
	out := ItemState{ItemArgs: req.Inputs}
	if req.DryRun {
		return infer.UpdateResponse[ItemState]{Output: out}, nil
	}
	if err := sleep(ctx, req.Inputs.SleepSeconds); err != nil {
		return infer.UpdateResponse[ItemState]{}, err
	}
	if err := failure(req.Inputs.FailWith); err != nil {
		return infer.UpdateResponse[ItemState]{}, err
	}
	name := ""
	if old, err := readRecord(req.ID); err != nil {
		return infer.UpdateResponse[ItemState]{}, err
	} else if old != nil {
		name = old.Name
	}
	err := writeRecord(record{
		ID: req.ID, Name: name, Value: req.Inputs.Value,
		ReplaceKey: req.Inputs.ReplaceKey, SleepSeconds: req.Inputs.SleepSeconds,
	})
	if err != nil {
		return infer.UpdateResponse[ItemState]{}, err
	}
	return infer.UpdateResponse[ItemState]{Output: out}, nil
}

// Read returns what is in the item's file; a missing file means the item is gone.
func (*Item) Read(ctx context.Context, req infer.ReadRequest[ItemArgs, ItemState]) (infer.ReadResponse[ItemArgs, ItemState], error) {
	r, err := readRecord(req.ID)
	if err != nil || r == nil {
		return infer.ReadResponse[ItemArgs, ItemState]{}, err
	}
	args := ItemArgs{Value: r.Value, ReplaceKey: r.ReplaceKey, SleepSeconds: r.SleepSeconds}
	return infer.ReadResponse[ItemArgs, ItemState]{
		ID:     req.ID,
		Inputs: args,
		State:  ItemState{ItemArgs: args},
	}, nil
}

func (*Item) Delete(ctx context.Context, req infer.DeleteRequest[ItemState]) (infer.DeleteResponse, error) {
	path, err := recordPath(req.ID)
	if err != nil {
		return infer.DeleteResponse{}, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return infer.DeleteResponse{}, err
	}
	return infer.DeleteResponse{}, nil
}
