package depcheck

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
)

// thirdParty confines modules of others to the packages that need them:
// import path prefix → the only packages of ours (below the module path)
// whose non-test code may import it. The Prometheus client stays in the
// master, which serves [metrics]: children, the public API and user
// modules never link it.
var thirdParty = map[string][]string{
	"github.com/prometheus/": {"internal/master"},
}

func TestThirdPartyImports(t *testing.T) {
	gobin := goTool(t)
	var mod struct{ Path string }
	if err := json.Unmarshal(run(t, gobin, ".", nil, "list", "-m", "-json"), &mod); err != nil || mod.Path == "" {
		t.Fatalf("go list -m: %+v, %v", mod, err)
	}
	out := run(t, gobin, ".", nil, "list", "-e", "-json=ImportPath,Imports", mod.Path+"/...")
	dec := json.NewDecoder(bytes.NewReader(out))
	seen := map[string]bool{}
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list -json output: %v", err)
		}
		rel := strings.TrimPrefix(p.ImportPath, mod.Path+"/")
		for _, imp := range p.Imports {
			for prefix, allowed := range thirdParty {
				if !strings.HasPrefix(imp, prefix) {
					continue
				}
				seen[prefix] = true
				if !slices.Contains(allowed, rel) {
					t.Errorf("%s imports %s: only %s may import %s*", rel, imp, strings.Join(allowed, ", "), prefix)
				}
			}
		}
	}
	for prefix := range thirdParty {
		if !seen[prefix] {
			t.Errorf("no package imports %s* any more: drop its rule", prefix)
		}
	}
}
