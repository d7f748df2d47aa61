// Command journaloracle writes test fixtures for the pulumi CLI's journaling protocol: a base deployment, the
// journal entries the CLI sends in PATCH .../journalentries, and the deployment the CLI's own JournalReplayer
// (pkg/backend/journal.go in pulumi/pulumi, NewJournalReplayer + Add + GenerateDeployment) rebuilds from them.
// Engine scenarios run real engine operations (the lifecycle-test machinery: deploytest programs and fake
// providers) with a journal v1 snapshot manager beside the checkpoint snapshot manager, and check that replaying
// the journal gives the checkpoint; prefix scenarios cut such a journal short, as a killed CLI leaves it; replayer
// scenarios feed hand-built but valid entries to the replayer. The expected output always comes from the replayer.
//
//	go run . -out ../../fixtures/journal
//
// The output is committed; the format is described in README.md.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// defaultSeed makes random.json reproducible.
const defaultSeed = 20260125

func main() {
	out := flag.String("out", "", "directory to write the fixtures to")
	seed := flag.Int64("seed", defaultSeed, "seed of the random scenarios")
	count := flag.Int("random", 200, "number of random engine scenarios (prefix scenarios come on top)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: journaloracle -out DIR")
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}

	g := &named{}
	g.generate()
	g.handBuilt()
	seen := map[string]bool{}
	for _, f := range g.fixtures {
		if seen[f.Name] {
			fail(fmt.Errorf("duplicate scenario %s", f.Name))
		}
		seen[f.Name] = true
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			fail(err)
		}
		write(filepath.Join(*out, f.Name+".json"), append(b, '\n'))
	}

	fmt.Fprintf(os.Stderr, "random scenarios: seed %d\n", *seed)
	random, st := generateRandom(*seed, *count)
	var buf bytes.Buffer
	buf.WriteString("[\n")
	for i, f := range random {
		b, err := json.Marshal(f)
		if err != nil {
			fail(err)
		}
		buf.Write(b)
		if i < len(random)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("]\n")
	write(filepath.Join(*out, "random.json"), buf.Bytes())

	fmt.Fprintf(os.Stderr, "named scenarios: %d\n", len(g.fixtures))
	fmt.Fprintf(os.Stderr, "random scenarios: %d (%d engine, %d prefixes, %d re-runs on a prefix's state of %d "+
		"tried); fuzzer draws %d, excluded %d, generator failures %d, timeouts %d, divergent %d, unstable %d\n",
		len(random), st.full, st.prefixes, st.resumed, st.resumeAttempts, st.attempts, st.excluded, st.genFailures,
		st.timeouts, st.divergent, st.unstable)
	fmt.Fprintf(os.Stderr, "engine runs: %d; operations whose journal order varied between runs: %d\n",
		canon.runs, canon.ambiguous)
	printKinds("named", g.fixtures)
	printKinds("random", random)
}

func printKinds(label string, fs []fixture) {
	withKind := map[int]int{}
	sources := map[string]int{}
	for _, f := range fs {
		sources[f.Source]++
		kinds := map[int]bool{}
		for _, e := range f.Entries {
			var k struct {
				Kind int `json:"kind"`
			}
			if err := json.Unmarshal(e, &k); err != nil {
				fail(err)
			}
			kinds[k.Kind] = true
		}
		for k := range kinds {
			withKind[k]++
		}
	}
	var ks []int
	for k := range withKind {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	fmt.Fprintf(os.Stderr, "%s: sources %v; scenarios containing kind:", label, sources)
	for _, k := range ks {
		fmt.Fprintf(os.Stderr, " %d=%d", k, withKind[k])
	}
	fmt.Fprintln(os.Stderr)
}

func write(path string, b []byte) {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "journaloracle:", err)
	os.Exit(1)
}
