package mixin

import (
	"fmt"
	"path/filepath"
)

// RulesPath and DashboardsDir are where the generated files go, relative
// to the repository root.
const (
	RulesPath     = "alerts/vigil.rules.yml"
	DashboardsDir = "dashboards"
)

// DashboardPath is the file of the dashboard with the given UID, relative
// to the repository root.
func DashboardPath(uid string) string {
	return filepath.Join(DashboardsDir, uid+".json")
}

// Files returns every generated file's contents by its path relative to
// the repository root.
func (c Config) Files() (map[string][]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	rules, err := c.MarshalRules(c.Rules())
	if err != nil {
		return nil, err
	}
	files[RulesPath] = rules
	boards, err := Dashboards()
	if err != nil {
		return nil, err
	}
	for _, b := range boards {
		p := DashboardPath(b.UID)
		if _, dup := files[p]; dup {
			return nil, fmt.Errorf("two dashboards with UID %q", b.UID)
		}
		files[p] = b.JSON
	}
	return files, nil
}
