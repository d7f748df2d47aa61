// Command deltavectors writes test vectors for checkpoint delta application: pairs of checkpoint texts and the
// edits between them, computed the way the pulumi CLI computes them (pkg/backend/httpstate/diffs.go): the
// deployment is marshaled compactly with one span per resource, the spans are diffed with pgavlin/diff's
// lcs.DiffLines, and each diff becomes a gotextdiff.TextEdit over byte offsets, marshaled with encoding/json.
//
//	go run . > ../../fixtures/delta-vectors.json
//
// The output is committed; the native tests in src/checkpoint/delta.rs apply every vector.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/hexops/gotextdiff"
	"github.com/hexops/gotextdiff/span"
	"github.com/pgavlin/diff/lcs"
)

type resource map[string]any

// marshal writes `{"version":3,"deployment":{"manifest":...,"resources":[r0,r1,...]}}` and returns the text with
// the byte offsets of its spans: a header span, one per resource (each after its separating comma), a trailer.
func marshal(resources []resource) ([]byte, []int, [][]byte) {
	var b bytes.Buffer
	var offsets []int
	var spans [][]byte
	start := 0
	next := func() {
		offsets = append(offsets, start)
		spans = append(spans, b.Bytes()[start:])
		start = b.Len()
	}
	enc := func(v any) {
		out, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		b.Write(out)
	}
	b.WriteString(`{"version":3,"deployment":{"manifest":`)
	enc(map[string]string{"time": "2026-11-25T00:00:00Z", "magic": "m", "version": "v3.255.0"})
	b.WriteString(`,"metadata":{}`)
	if len(resources) > 0 {
		b.WriteString(`,"resources":[`)
		for i, r := range resources {
			if i > 0 {
				b.WriteByte(',')
			}
			next()
			enc(r)
		}
		next()
		b.WriteByte(']')
	}
	b.WriteString("}}")
	next()
	offsets = append(offsets, start)
	// Spans must be copies: later writes may move the buffer.
	text := append([]byte(nil), b.Bytes()...)
	for i := range spans {
		spans[i] = text[offsets[i] : offsets[i]+len(spans[i])]
	}
	return text, offsets, spans
}

func edits(beforeRes, afterRes []resource) (before, after []byte, delta json.RawMessage) {
	before, bOff, bSpans := marshal(beforeRes)
	after, aOff, aSpans := marshal(afterRes)
	diffs := lcs.DiffLines(bSpans, aSpans)
	out := make([]gotextdiff.TextEdit, len(diffs))
	for i, d := range diffs {
		out[i] = gotextdiff.TextEdit{
			Span:    span.New("", span.NewPoint(1, 0, bOff[d.Start]), span.NewPoint(1, 0, bOff[d.End])),
			NewText: string(after[aOff[d.ReplStart]:aOff[d.ReplEnd]]),
		}
	}
	delta, err := json.Marshal(out)
	if err != nil {
		panic(err)
	}
	return before, after, delta
}

func res(i int, value string) resource {
	return resource{
		"urn":     fmt.Sprintf("urn:pulumi:dev::app::procella-test:index:Item::item-%03d", i),
		"custom":  true,
		"id":      fmt.Sprintf("id-%03d", i),
		"type":    "procella-test:index:Item",
		"inputs":  map[string]any{"value": value, "replaceKey": "k"},
		"outputs": map[string]any{"value": value, "replaceKey": "k"},
	}
}

func series(n int, value func(int) string) []resource {
	out := make([]resource, n)
	for i := range out {
		out[i] = res(i, value(i))
	}
	return out
}

type vector struct {
	Name          string          `json:"name"`
	Before        string          `json:"before"`
	After         string          `json:"after"`
	CheckpointSHA string          `json:"checkpointHash"`
	Delta         json.RawMessage `json:"deploymentDelta"`
}

func main() {
	base := series(8, func(i int) string { return fmt.Sprintf("v%d", i) })
	cases := []struct {
		name          string
		before, after []resource
	}{
		{"no change", base, base},
		{"one resource updated in place", base, series(8, func(i int) string {
			if i == 3 {
				return "changed"
			}
			return fmt.Sprintf("v%d", i)
		})},
		{"resources appended", base, series(11, func(i int) string { return fmt.Sprintf("v%d", i) })},
		{"first and last deleted", base, base[1:7]},
		{"a resource inserted in the middle", base, append(append(append([]resource{}, base[:4]...), res(99, "new")), base[4:]...)},
		{"every resource changed", base, series(8, func(i int) string { return fmt.Sprintf("w%d", i) })},
		{"escapes and unicode", base, series(8, func(i int) string { return fmt.Sprintf("<&>\"\\ é ✓ %d\n\t", i) })},
		{"from empty", nil, base},
		{"to empty", base, nil},
		{"moved", base, append(append([]resource{}, base[3:]...), base[:3]...)},
	}
	var out []vector
	for _, c := range cases {
		before, after, delta := edits(c.before, c.after)
		sum := sha256.Sum256(after)
		out = append(out, vector{c.name, string(before), string(after), hex.EncodeToString(sum[:]), delta})
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}
