package quota

import "fmt"

// Match types of a filter component; Kafka's wire values, part of the
// DescribeClientQuotas format.
const (
	MatchExact   int8 = 0 // the entity type's name equals Name
	MatchDefault int8 = 1 // the entity type's default entity
	MatchAny     int8 = 2 // any specified (non-default) name
)

// Component is one part of a Filter (Kafka's ClientQuotaFilterComponent).
type Component struct {
	Type  string
	Match int8
	Name  string // for MatchExact
}

// Filter selects entities for Describe (Kafka's ClientQuotaFilter):
// an entity matches when every component matches it and, when Strict,
// it has no entity type the components do not name.
type Filter struct {
	Components []Component
	Strict     bool
}

// Validate reports why Kafka would refuse f, wrapping ErrInvalid.
func (f Filter) Validate() error {
	seen := make(map[string]bool, len(f.Components))
	for _, c := range f.Components {
		if c.Type != User && c.Type != ClientID && c.Type != IP {
			return fmt.Errorf("%w: unknown entity type %q in filter", ErrInvalid, c.Type)
		}
		if seen[c.Type] {
			return fmt.Errorf("%w: entity type %q appears twice in filter", ErrInvalid, c.Type)
		}
		seen[c.Type] = true
		if c.Match < MatchExact || c.Match > MatchAny {
			return fmt.Errorf("%w: unknown match type %d", ErrInvalid, c.Match)
		}
	}
	return nil
}

// matches reports whether e passes f.
func (f Filter) matches(e Entity) bool {
	for _, c := range f.Components {
		n, ok := e[c.Type]
		if !ok {
			return false
		}
		switch c.Match {
		case MatchExact:
			if n == "" || n != c.Name {
				return false
			}
		case MatchDefault:
			if n != "" {
				return false
			}
		case MatchAny:
			if n == "" {
				return false
			}
		}
	}
	return !f.Strict || len(e) == len(f.Components)
}
