package apicheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// skipDirs are the directories that hold no public package: a module
// outside Herald does not import them (or cannot).
var skipDirs = map[string]bool{"internal": true, "testdata": true, "cmd": true, "examples": true, "bench": true, "compat": true, "scripts": true, "deploy": true, "docs": true}

// TestNoInternalTypesInPublicAPI: no exported function, method, type,
// field or variable of a public package mentions a type from an internal
// package, so every part of the public API can be used from another
// module (heraldtest/testdata/usermod checks heraldtest by using it).
func TestNoInternalTypesInPublicAPI(t *testing.T) {
	root := filepath.Join("..", "..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (skipDirs[d.Name()] || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			checked++
			checkFile(t, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("checked %d files: the walk missed the public packages", checked)
	}
}

func checkFile(t *testing.T, name string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.SkipObjectResolution)
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
	if len(internal) == 0 {
		return
	}
	mentions := func(n ast.Node) (found string) {
		if n == nil {
			return ""
		}
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
			if d.Name.IsExported() && (d.Recv == nil || exportedRecv(d.Recv)) {
				if typ := mentions(d.Type); typ != "" {
					t.Errorf("%s: %s uses the internal type %s", name, d.Name.Name, typ)
				}
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				checkSpec(t, name, s, mentions)
			}
		}
	}
}

func checkSpec(t *testing.T, file string, s ast.Spec, mentions func(ast.Node) string) {
	switch s := s.(type) {
	case *ast.ValueSpec:
		for _, n := range s.Names {
			if typ := mentions(s.Type); n.IsExported() && typ != "" {
				t.Errorf("%s: %s uses the internal type %s", file, n.Name, typ)
			}
		}
	case *ast.TypeSpec:
		if !s.Name.IsExported() {
			return
		}
		st, ok := s.Type.(*ast.StructType)
		if !ok {
			if typ := mentions(s.Type); typ != "" {
				t.Errorf("%s: type %s uses the internal type %s", file, s.Name.Name, typ)
			}
			return
		}
		for _, fld := range st.Fields.List {
			exported := len(fld.Names) == 0 // embedded: promoted
			for _, n := range fld.Names {
				exported = exported || n.IsExported()
			}
			if typ := mentions(fld.Type); exported && typ != "" {
				t.Errorf("%s: a field of %s uses the internal type %s", file, s.Name.Name, typ)
			}
		}
	}
}

func exportedRecv(fl *ast.FieldList) bool {
	typ := fl.List[0].Type
	if st, ok := typ.(*ast.StarExpr); ok {
		typ = st.X
	}
	if ix, ok := typ.(*ast.IndexExpr); ok {
		typ = ix.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}
