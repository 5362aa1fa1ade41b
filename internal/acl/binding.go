package acl

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/metadata"
)

// PatternType is how a binding's name matches resource names: Kafka's
// PatternType codes, as kmsg names them.
type PatternType = kmsg.ACLResourcePatternType

// Pattern types. Part of the wire format (CreateAcls, DescribeAcls,
// DeleteAcls) and of the metadata log; do not change.
const (
	AnyPattern PatternType = kmsg.ACLResourcePatternTypeAny      // 1, filters only
	Match      PatternType = kmsg.ACLResourcePatternTypeMatch    // 2, filters only
	Literal    PatternType = kmsg.ACLResourcePatternTypeLiteral  // 3
	Prefixed   PatternType = kmsg.ACLResourcePatternTypePrefixed // 4
)

// Permission is whether a binding allows or denies: Kafka's
// AclPermissionType codes.
type Permission = kmsg.ACLPermissionType

// Permissions. Part of the wire format and of the metadata log; do not
// change.
const (
	AnyPermission Permission = kmsg.ACLPermissionTypeAny   // 1, filters only
	Deny          Permission = kmsg.ACLPermissionTypeDeny  // 2
	Allow         Permission = kmsg.ACLPermissionTypeAllow // 3
)

// Codes that only filters use, and ALL, which a binding may grant.
const (
	AnyType access.ResourceType = kmsg.ACLResourceTypeAny // 1, filters only
	AnyOp   access.Operation    = kmsg.ACLOperationAny    // 1, filters only
	All     access.Operation    = kmsg.ACLOperationAll    // 2: every operation
)

// Wildcard is the name of a LITERAL binding that matches every resource
// of its type, and the principal name that matches every principal of
// its type ("User:*").
const Wildcard = "*"

// Binding is one ACL, Kafka's AclBinding: Principal may (Allow) or may
// not (Deny) do Op (or All) to the resources of Type whose name is Name
// (Literal; "*" is every name) or starts with Name (Prefixed), from Host
// ("*" or an IP address). Bindings are comparable values; two equal
// bindings are one ACL.
type Binding struct {
	Principal  string // "User:alice"; "User:*" is every user
	Host       string // "*" or an IP address
	Type       access.ResourceType
	Name       string
	Pattern    PatternType
	Op         access.Operation
	Permission Permission
}

// String is the binding in the form Kafka's tools print.
func (b Binding) String() string {
	return fmt.Sprintf("(principal=%s, host=%s, operation=%s, permissionType=%s) on %s:%s:%s",
		b.Principal, b.Host, b.Op, b.Permission, b.Type, b.Pattern, b.Name)
}

// ErrInvalid marks a binding or filter CreateAcls, DescribeAcls or
// DeleteAcls must refuse (INVALID_REQUEST).
var ErrInvalid = errors.New("invalid ACL")

// Validate reports why b cannot be created (errors.Is(err, ErrInvalid)),
// with Kafka's rules: a known resource type (delegation tokens and users
// are refused: Herald has neither), LITERAL or PREFIXED, a non-empty name
// ("kafka-cluster" for the cluster), a concrete operation and permission,
// a "Type:Name" principal and a host that is "*" or an IP address.
func (b Binding) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch b.Type {
	case access.Topic, access.Group, access.Cluster, access.TransactionalID:
	default:
		return bad("resource type %v is not supported (want TOPIC, GROUP, CLUSTER or TRANSACTIONAL_ID)", b.Type)
	}
	if b.Pattern != Literal && b.Pattern != Prefixed {
		return bad("pattern type %v (want LITERAL or PREFIXED)", b.Pattern)
	}
	if b.Name == "" {
		return bad("resource name is empty")
	}
	if b.Type == access.Cluster && (b.Name != access.ClusterName || b.Pattern != Literal) {
		return bad("the only cluster resource is LITERAL %q, not %v %q", access.ClusterName, b.Pattern, b.Name)
	}
	if b.Op < All || b.Op > kmsg.ACLOperationDescribeTokens {
		return bad("operation %v", b.Op)
	}
	if b.Permission != Allow && b.Permission != Deny {
		return bad("permission type %v (want ALLOW or DENY)", b.Permission)
	}
	if _, _, err := SplitPrincipal(b.Principal); err != nil {
		return err
	}
	if b.Host != Wildcard && net.ParseIP(b.Host) == nil {
		return bad("host %q is neither * nor an IP address", b.Host)
	}
	return nil
}

// SplitPrincipal splits "Type:Name" (both non-empty).
func SplitPrincipal(p string) (typ, name string, err error) {
	typ, name, ok := strings.Cut(p, ":")
	if !ok || typ == "" || name == "" {
		return "", "", fmt.Errorf("%w: principal %q is not of the form Type:Name (User:alice)", ErrInvalid, p)
	}
	return typ, name, nil
}

// Filter selects bindings, Kafka's AclBindingFilter: nil Principal, Host
// and Name, AnyType, AnyOp and AnyPermission match everything. Pattern
// AnyPattern matches any pattern type with exactly Name; Match matches
// the bindings that apply to the resource named Name (the LITERAL name,
// the LITERAL "*", and every PREFIXED prefix of Name); Literal and
// Prefixed match that type only, with exactly Name.
type Filter struct {
	Principal  *string
	Host       *string
	Type       access.ResourceType
	Name       *string
	Pattern    PatternType
	Op         access.Operation
	Permission Permission
}

// Validate refuses a filter with UNKNOWN (or out-of-range) parts, as
// Kafka does.
func (f Filter) Validate() error {
	switch {
	case f.Type < AnyType || f.Type > kmsg.ACLResourceTypeUser:
		return fmt.Errorf("%w: filter resource type %v", ErrInvalid, f.Type)
	case f.Pattern < AnyPattern || f.Pattern > Prefixed:
		return fmt.Errorf("%w: filter pattern type %v", ErrInvalid, f.Pattern)
	case f.Op < AnyOp || f.Op > kmsg.ACLOperationDescribeTokens:
		return fmt.Errorf("%w: filter operation %v", ErrInvalid, f.Op)
	case f.Permission < AnyPermission || f.Permission > Allow:
		return fmt.Errorf("%w: filter permission type %v", ErrInvalid, f.Permission)
	}
	return nil
}

// Matches reports whether f selects b.
func (f Filter) Matches(b Binding) bool {
	switch {
	case f.Type != AnyType && f.Type != b.Type,
		f.Principal != nil && *f.Principal != b.Principal,
		f.Host != nil && *f.Host != b.Host,
		f.Op != AnyOp && f.Op != b.Op,
		f.Permission != AnyPermission && f.Permission != b.Permission:
		return false
	}
	return f.matchesPattern(b)
}

func (f Filter) matchesPattern(b Binding) bool {
	if f.Pattern != AnyPattern && f.Pattern != Match && f.Pattern != b.Pattern {
		return false
	}
	if f.Name == nil {
		return true
	}
	name := *f.Name
	if f.Pattern != Match {
		return name == b.Name
	}
	if b.Pattern == Prefixed {
		return strings.HasPrefix(name, b.Name)
	}
	return name == b.Name || b.Name == Wildcard
}

// record is b as the metadata log stores it.
func (b Binding) record() metadata.ACL {
	return metadata.ACL{
		Principal: b.Principal, Host: b.Host, ResourceType: int8(b.Type), Name: b.Name,
		PatternType: int8(b.Pattern), Operation: int8(b.Op), Permission: int8(b.Permission),
	}
}

// fromRecord is the binding a metadata log record holds.
func fromRecord(r metadata.ACL) Binding {
	return Binding{
		Principal: r.Principal, Host: r.Host, Type: access.ResourceType(r.ResourceType), Name: r.Name,
		Pattern: PatternType(r.PatternType), Op: access.Operation(r.Operation), Permission: Permission(r.Permission),
	}
}
