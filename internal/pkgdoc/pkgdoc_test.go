// Package pkgdoc holds a test that every package of the module documents
// itself in a doc.go, as tailscale's pkgdoc_test does.
package pkgdoc

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEveryPackageHasDocGo(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "deploy" || name == "docs") {
			return filepath.SkipDir
		}
		files, _ := filepath.Glob(filepath.Join(path, "*.go"))
		var code bool
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				code = true
			}
		}
		if !code {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(path, "doc.go"), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Errorf("package %s has no doc.go: %v", rel, err)
			return nil
		}
		if f.Doc == nil || len(f.Doc.Text()) < 80 {
			t.Errorf("package %s: doc.go needs a package comment saying what it owns and what it must not do", rel)
		}
		checked++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 4 {
		t.Fatalf("checked only %d packages; is the module root right?", checked)
	}
}
