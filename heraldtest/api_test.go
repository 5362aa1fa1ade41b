package heraldtest_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// internalHooks are the exported names that use Herald's internal types,
// for Herald's own tests; a module outside Herald cannot use them.
var internalHooks = map[string]bool{"WithConfig": true, "Server": true}

// TestNoInternalTypesInAPI: no other exported function, method, type or
// field of heraldtest mentions a type from an internal package, so every
// other part of the API is usable from another module (which
// testdata/usermod checks by using it).
func TestNoInternalTypesInAPI(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		internal := map[string]bool{} // local names of internal imports
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(path, "/internal/") {
				local := path[strings.LastIndex(path, "/")+1:]
				if imp.Name != nil {
					local = imp.Name.Name
				}
				internal[local] = true
			}
		}
		mentions := func(n ast.Node) (found string) {
			ast.Inspect(n, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && internal[id.Name] {
						found = id.Name + "." + sel.Sel.Name
					}
				}
				return found == ""
			})
			return found
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && !internalHooks[d.Name.Name] && (d.Recv == nil || exportedRecv(d.Recv)) {
					if typ := mentions(d.Type); typ != "" {
						t.Errorf("%s: %s uses the internal type %s", name, d.Name.Name, typ)
					}
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					ts, ok := s.(*ast.TypeSpec)
					if !ok || !ts.Name.IsExported() {
						continue
					}
					if st, ok := ts.Type.(*ast.StructType); ok {
						for _, fld := range st.Fields.List {
							for _, n := range fld.Names {
								if typ := mentions(fld.Type); n.IsExported() && typ != "" {
									t.Errorf("%s: field %s.%s uses the internal type %s", name, ts.Name.Name, n.Name, typ)
								}
							}
						}
					} else if typ := mentions(ts.Type); typ != "" {
						t.Errorf("%s: type %s uses the internal type %s", name, ts.Name.Name, typ)
					}
				}
			}
		}
	}
}

func exportedRecv(fl *ast.FieldList) bool {
	typ := fl.List[0].Type
	if st, ok := typ.(*ast.StarExpr); ok {
		typ = st.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}
