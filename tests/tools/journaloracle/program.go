package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/blang/semver"

	"github.com/pulumi/pulumi/pkg/v3/resource/deploy/deploytest"
	"github.com/pulumi/pulumi/pkg/v3/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/providers"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

const (
	typA    = "pkgA:m:typA"
	compT   = "my:module:Component"
	provTyp = "pulumi:providers:pkgA"
)

// provConf configures the fake pkgA provider: which resources (by name) fail which operation, and what a refresh
// reads back.
type provConf struct {
	failCreate map[string]bool
	failUpdate map[string]bool
	failDelete map[string]bool
	readGone   map[string]bool // refresh: the resource no longer exists
	readChange map[string]bool // refresh: the resource has drifted (an output "drift" appears)
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// newProvider is a deterministic fake provider: IDs are "<name>-<n>" with n counting creates of this instance; the
// diff replaces when input "rk" changes (delete-before-replace when input "dbr" is true) and updates on any other
// change; reads return the stored state unless configured otherwise.
func newProvider(c provConf) *deploytest.Provider {
	var mu sync.Mutex
	n := 0
	return &deploytest.Provider{
		ParameterizeF: func(_ context.Context, req plugin.ParameterizeRequest) (plugin.ParameterizeResponse, error) {
			value, ok := req.Parameters.(*plugin.ParameterizeValue)
			if !ok {
				return plugin.ParameterizeResponse{}, errors.New("expected a parameterize value")
			}
			return plugin.ParameterizeResponse{Name: value.Name, Version: value.Version}, nil
		},
		GetSchemaF: func(context.Context, plugin.GetSchemaRequest) (plugin.GetSchemaResponse, error) {
			return plugin.GetSchemaResponse{Schema: []byte(`{"version": "1.0.0", "name": "pkgA", "resources": {` +
				`"pkgA:index:res": {"inputProperties": {"propA": {"type": "boolean"}}, "requiredInputs": ["propA"]}}}`)}, nil
		},
		CreateF: func(_ context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
			if req.Preview {
				return plugin.CreateResponse{Properties: req.Properties}, nil
			}
			name := req.URN.Name()
			if c.failCreate[name] {
				return plugin.CreateResponse{Status: resource.StatusOK}, fmt.Errorf("create of %s failed", name)
			}
			mu.Lock()
			n++
			id := fmt.Sprintf("%s-%d", name, n)
			mu.Unlock()
			return plugin.CreateResponse{ID: resource.ID(id), Properties: req.Properties, Status: resource.StatusOK}, nil
		},
		DiffF: func(_ context.Context, req plugin.DiffRequest) (plugin.DiffResult, error) {
			if req.OldInputs.Equals(req.NewInputs) {
				return plugin.DiffResult{Changes: plugin.DiffNone}, nil
			}
			if !req.OldInputs.Get("rk").Equals(req.NewInputs.Get("rk")) {
				dbr := req.NewInputs.Get("dbr")
				return plugin.DiffResult{
					Changes:             plugin.DiffSome,
					ReplaceKeys:         []resource.PropertyKey{"rk"},
					DeleteBeforeReplace: dbr.IsBool() && dbr.AsBool(),
				}, nil
			}
			return plugin.DiffResult{Changes: plugin.DiffSome}, nil
		},
		UpdateF: func(_ context.Context, req plugin.UpdateRequest) (plugin.UpdateResponse, error) {
			if req.Preview {
				return plugin.UpdateResponse{Properties: req.NewInputs}, nil
			}
			if c.failUpdate[req.URN.Name()] {
				return plugin.UpdateResponse{Status: resource.StatusOK}, fmt.Errorf("update of %s failed", req.URN.Name())
			}
			return plugin.UpdateResponse{Properties: req.NewInputs, Status: resource.StatusOK}, nil
		},
		DeleteF: func(_ context.Context, req plugin.DeleteRequest) (plugin.DeleteResponse, error) {
			if c.failDelete[req.URN.Name()] {
				return plugin.DeleteResponse{Status: resource.StatusOK}, fmt.Errorf("delete of %s failed", req.URN.Name())
			}
			return plugin.DeleteResponse{Status: resource.StatusOK}, nil
		},
		ReadF: func(_ context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
			name := req.URN.Name()
			if c.readGone[name] {
				return plugin.ReadResponse{Status: resource.StatusOK}, nil
			}
			inputs, state := req.Inputs, req.State
			if c.readChange[name] {
				state = state.Set("drift", property.New(true))
			}
			if state.Len() == 0 && req.State.Len() == 0 {
				// A read of an external resource (ReadResource or import): report some state.
				state = property.NewMap(map[string]property.Value{"v": property.New(1.0), "external": property.New(true)})
				inputs = property.NewMap(map[string]property.Value{"v": property.New(1.0)})
			}
			return plugin.ReadResponse{
				ReadResult: plugin.ReadResult{ID: req.ID, Inputs: &inputs, Outputs: &state},
				Status:     resource.StatusOK,
			}, nil
		},
	}
}

func loaders(c provConf) []*deploytest.ProviderLoader {
	return []*deploytest.ProviderLoader{
		deploytest.NewProviderLoader("pkgA", semver.MustParse("1.0.0"), func() (plugin.Provider, error) {
			return newProvider(c), nil
		}),
	}
}

// decl is one registration of a declarative test program. References (parent, deps, provider, ...) are by name of
// an earlier decl; a reference to a decl that failed or is absent is dropped.
type decl struct {
	typ         tokens.Type
	name        string
	custom      bool
	parent      string
	deps        []string
	propDeps    map[string][]string
	deletedWith string
	replaceWith []string
	inputs      resource.PropertyMap
	protect     bool
	retain      bool
	aliasURNs   []resource.URN
	provider    string      // name of an explicit provider decl
	importID    resource.ID // import into an update
	read        resource.ID // ReadResource with this ID instead of RegisterResource
	outputsOf   string      // not a registration: RegisterResourceOutputs(outputsOf, inputs)
	packageRef  string      // name of a registerPackage decl
	extension   []byte      // this decl is a RegisterPackage of pkgA with an extension parameterization
}

func custom(name string, inputs resource.PropertyMap) decl {
	return decl{typ: typA, name: name, custom: true, inputs: inputs}
}

func component(name string) decl { return decl{typ: compT, name: name} }

func outputs(of string, outs resource.PropertyMap) decl { return decl{outputsOf: of, inputs: outs} }

func props(kv ...any) resource.PropertyMap {
	m := resource.PropertyMap{}
	for i := 0; i < len(kv); i += 2 {
		k := resource.PropertyKey(kv[i].(string))
		switch v := kv[i+1].(type) {
		case resource.PropertyValue:
			m[k] = v
		case string:
			m[k] = resource.NewProperty(v)
		case int:
			m[k] = resource.NewProperty(float64(v))
		case bool:
			m[k] = resource.NewProperty(v)
		default:
			panic(fmt.Sprintf("props: unsupported %T", v))
		}
	}
	return m
}

func secret(s string) resource.PropertyValue { return resource.MakeSecret(resource.NewProperty(s)) }

type program func(plugin.RunInfo, *deploytest.ResourceMonitor) error

func declProgram(decls ...decl) program {
	return func(_ plugin.RunInfo, m *deploytest.ResourceMonitor) error {
		urns := map[string]resource.URN{}
		ids := map[string]resource.ID{}
		refs := map[string]string{}
		urn := func(name string) resource.URN { return urns[name] }
		for _, d := range decls {
			if d.extension != nil {
				ref, err := m.RegisterPackage("pkgA", "1.0.0", "", nil, nil, extensionParam(d.name, d.extension))
				if err != nil {
					return err
				}
				refs[d.name] = ref
				continue
			}
			if d.outputsOf != "" {
				if u, ok := urns[d.outputsOf]; ok {
					if err := m.RegisterResourceOutputs(u, d.inputs); err != nil {
						return err
					}
				}
				continue
			}
			if d.read != "" {
				u, _, err := m.ReadResource(d.typ, d.name, d.read, urn(d.parent), d.inputs, "", "", "", nil, "", "")
				if err == nil {
					urns[d.name] = u
				}
				continue
			}
			opts := deploytest.ResourceOptions{
				Parent:      urn(d.parent),
				Inputs:      d.inputs,
				DeletedWith: urn(d.deletedWith),
				AliasURNs:   d.aliasURNs,
				ImportID:    d.importID,
				PackageRef:  refs[d.packageRef],
			}
			if d.protect {
				opts.Protect = new(true)
			}
			if d.retain {
				opts.RetainOnDelete = new(true)
			}
			for _, dep := range d.deps {
				if u, ok := urns[dep]; ok {
					opts.Dependencies = append(opts.Dependencies, u)
				}
			}
			for _, rw := range d.replaceWith {
				if u, ok := urns[rw]; ok {
					opts.ReplaceWith = append(opts.ReplaceWith, u)
				}
			}
			if len(d.propDeps) > 0 {
				opts.PropertyDeps = map[resource.PropertyKey][]resource.URN{}
				for k, deps := range d.propDeps {
					for _, dep := range deps {
						if u, ok := urns[dep]; ok {
							opts.PropertyDeps[resource.PropertyKey(k)] = append(opts.PropertyDeps[resource.PropertyKey(k)], u)
						}
					}
				}
			}
			if d.provider != "" {
				if u, ok := urns[d.provider]; ok {
					ref, err := providers.NewReference(u, ids[d.provider])
					if err != nil {
						return err
					}
					opts.Provider = ref.String()
				}
			}
			resp, err := m.RegisterResource(d.typ, d.name, d.custom, opts)
			if err != nil {
				// A failed step: the engine is stopping; the rest of the program does not matter.
				if errors.Is(err, context.Canceled) {
					return nil
				}
				continue
			}
			urns[d.name] = resp.URN
			ids[d.name] = resp.ID
		}
		return nil
	}
}

func hostF(p program, c provConf) deploytest.PluginHostFactory {
	return deploytest.NewPluginHostF(nil, nil, deploytest.NewLanguageRuntimeF(deploytest.ProgramFunc(p)), nil, nil, loaders(c)...)
}
