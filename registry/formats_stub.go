package registry

import (
	"errors"

	"github.com/heraldhq/herald/registry/compat"
)

type protoFormat struct{}

func (protoFormat) parse(string, []compat.Ref) (any, error) { return nil, errors.New("todo") }
func (protoFormat) check(r, w any) []compat.Issue           { return nil }
func (protoFormat) canonical(text string) string            { return text }
