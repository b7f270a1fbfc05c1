package inventory

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

type jsonSchema struct {
	Schema     string                 `json:"$schema"`
	Ref        string                 `json:"$ref"`
	Type       any                    `json:"type"`
	Properties map[string]*jsonSchema `json:"properties"`
	Required   []string               `json:"required"`
	Items      *jsonSchema            `json:"items"`
	Defs       map[string]*jsonSchema `json:"$defs"`
	Enum       []string               `json:"enum"`
}

// TestSchemaMatchesTypes walks Report by reflection and checks that every
// field is a property of the JSON schema (and the other way round), that
// the fields always written are the required ones and that the JSON types
// agree, so the schema and the Go types cannot drift apart.
func TestSchemaMatchesTypes(t *testing.T) {
	data, err := os.ReadFile("schema/report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var root jsonSchema
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatalf("report.schema.json: %v", err)
	}
	if root.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %q, want draft 2020-12", root.Schema)
	}
	seen := map[string]bool{}
	var check func(path string, typ reflect.Type, s *jsonSchema)
	resolve := func(s *jsonSchema) *jsonSchema {
		if s != nil && s.Ref != "" {
			name := strings.TrimPrefix(s.Ref, "#/$defs/")
			seen[name] = true
			if d := root.Defs[name]; d != nil {
				return d
			}
			t.Errorf("$ref %s is not defined", s.Ref)
		}
		return s
	}
	check = func(path string, typ reflect.Type, s *jsonSchema) {
		s = resolve(s)
		if s == nil {
			t.Errorf("%s: not in the schema", path)
			return
		}
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		want := map[reflect.Kind]string{reflect.String: "string", reflect.Bool: "boolean", reflect.Int: "integer",
			reflect.Uint64: "integer", reflect.Float64: "number", reflect.Slice: "array", reflect.Struct: "object"}[typ.Kind()]
		if typ == reflect.TypeFor[time.Time]() {
			want = "string"
		}
		if s.Type != want {
			t.Errorf("%s: schema type %v, Go type %s (%s)", path, s.Type, typ, want)
		}
		switch {
		case typ.Kind() == reflect.Slice:
			check(path+"[]", typ.Elem(), s.Items)
		case typ.Kind() == reflect.Struct && typ != reflect.TypeFor[time.Time]():
			var names, required []string
			for i := range typ.NumField() {
				f := typ.Field(i)
				name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "" || name == "-" {
					t.Errorf("%s.%s has no json name", path, f.Name)
					continue
				}
				names = append(names, name)
				if !strings.Contains(opts, "omitempty") {
					required = append(required, name)
				}
				check(path+"."+name, f.Type, s.Properties[name])
			}
			for p := range s.Properties {
				if !slices.Contains(names, p) {
					t.Errorf("%s.%s is in the schema but not in the Go type %s", path, p, typ)
				}
			}
			sort.Strings(required)
			req := slices.Clone(s.Required)
			sort.Strings(req)
			if !slices.Equal(required, req) {
				t.Errorf("%s: schema requires %v, the Go type always writes %v", path, req, required)
			}
		}
	}
	check("report", reflect.TypeFor[Report](), &root)
	for name := range root.Defs {
		if !seen[name] {
			t.Errorf("$defs.%s is not used", name)
		}
	}
	// Enumerations match the constants.
	st := root.Defs["CollectorResult"].Properties["status"].Enum
	if !slices.Equal(st, []string{CollectorOK, CollectorNoData, CollectorFailed}) {
		t.Errorf("collector status enum = %v", st)
	}
	if v := root.Properties["schema_version"]; v == nil {
		t.Error("no schema_version")
	}
	readme, err := os.ReadFile("schema/README.md")
	if err != nil {
		t.Fatal(err)
	}
	// Every field is documented in the README too.
	var fields func(typ reflect.Type)
	done := map[reflect.Type]bool{}
	fields = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[time.Time]() || done[typ] {
			return
		}
		done[typ] = true
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if !strings.Contains(string(readme), "`"+name+"`") {
				t.Errorf("schema/README.md does not document %s.%s", typ.Name(), name)
			}
			fields(typ.Field(i).Type)
		}
	}
	fields(reflect.TypeFor[Report]())
}
