package kafkasec

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClusterACLs answers authorization questions from a Kafka cluster's
// ACLs, read with DescribeAcls (so it works against Herald, Apache Kafka
// or Redpanda) and evaluated as Kafka's authorizer does:
//
//   - a super user is allowed everything;
//   - an ACL matches a resource when it is LITERAL with the same name or
//     "*", or PREFIXED with a prefix of the name;
//   - an ACL matches a principal when it names it or "User:*";
//   - a matching DENY for the operation (or ALL) wins over any ALLOW;
//   - an ALLOW for the operation or ALL allows it, and so does, for
//     DESCRIBE, an ALLOW for READ, WRITE, DELETE or ALTER, and for
//     DESCRIBE_CONFIGS, an ALLOW for ALTER_CONFIGS;
//   - nothing matching denies.
//
// Hosts: only ALLOWs for host "*" count (an HTTP caller's address is not
// the Kafka client's), while DENYs count for every host.
//
// A principal's ACLs are cached for CacheTTL, so a change takes effect
// within it. ClusterACLs is safe for concurrent use.
type ClusterACLs struct {
	cfg ACLConfig

	mu struct {
		sync.Mutex
		byPrincipal map[string]aclEntry
	}
}

// ACLConfig configures ClusterACLs.
type ACLConfig struct {
	// Client asks the cluster; its principal needs DESCRIBE on the
	// CLUSTER. Required; ClusterACLs does not close it.
	Client *kgo.Client
	// SuperUsers are principals ("User:admin") allowed everything, as
	// the brokers' super.users (which DescribeAcls cannot show).
	SuperUsers []string
	// CacheTTL is how long a principal's ACLs are reused; default 10s.
	CacheTTL time.Duration
}

type aclEntry struct {
	acls  []ACL
	until time.Time
}

// ACL is one access control entry as DescribeAcls reports it.
type ACL struct {
	Principal    string
	Host         string
	ResourceType kmsg.ACLResourceType
	ResourceName string
	Pattern      kmsg.ACLResourcePatternType
	Operation    kmsg.ACLOperation
	Allow        bool
}

// NewClusterACLs returns a ClusterACLs; it does not contact the cluster.
func NewClusterACLs(cfg ACLConfig) (*ClusterACLs, error) {
	if cfg.Client == nil {
		return nil, errors.New("kafkasec: ACLConfig.Client is nil")
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 10 * time.Second
	}
	a := &ClusterACLs{cfg: cfg}
	a.mu.byPrincipal = map[string]aclEntry{}
	return a, nil
}

// Allowed reports whether principal may do op on the resource. An error
// means the ACLs could not be read; callers must then deny.
func (a *ClusterACLs) Allowed(ctx context.Context, principal string, rt kmsg.ACLResourceType, name string, op kmsg.ACLOperation) (bool, error) {
	if slices.Contains(a.cfg.SuperUsers, principal) {
		return true, nil
	}
	acls, err := a.acls(ctx, principal)
	if err != nil {
		return false, err
	}
	return Evaluate(acls, rt, name, op), nil
}

// Evaluate applies Kafka's rules (see ClusterACLs) to acls, all of which
// are the principal's or User:*'s.
func Evaluate(acls []ACL, rt kmsg.ACLResourceType, name string, op kmsg.ACLOperation) bool {
	allowed := false
	for _, acl := range acls {
		if !acl.matches(rt, name) {
			continue
		}
		if !acl.Allow {
			if acl.Operation == op || acl.Operation == kmsg.ACLOperationAll {
				return false
			}
			continue
		}
		allowed = allowed || acl.Host == "*" && implies(acl.Operation, op)
	}
	return allowed
}

func (acl ACL) matches(rt kmsg.ACLResourceType, name string) bool {
	if acl.ResourceType != rt {
		return false
	}
	switch acl.Pattern {
	case kmsg.ACLResourcePatternTypeLiteral:
		return acl.ResourceName == name || acl.ResourceName == "*"
	case kmsg.ACLResourcePatternTypePrefixed:
		return strings.HasPrefix(name, acl.ResourceName)
	}
	return false
}

// implies reports whether an ALLOW of granted allows op (KIP-253's
// implied operations).
func implies(granted, op kmsg.ACLOperation) bool {
	switch {
	case granted == op, granted == kmsg.ACLOperationAll:
		return true
	case op == kmsg.ACLOperationDescribe:
		return granted == kmsg.ACLOperationRead || granted == kmsg.ACLOperationWrite ||
			granted == kmsg.ACLOperationDelete || granted == kmsg.ACLOperationAlter
	case op == kmsg.ACLOperationDescribeConfigs:
		return granted == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// acls are the ACLs of principal and of User:*, cached.
func (a *ClusterACLs) acls(ctx context.Context, principal string) ([]ACL, error) {
	a.mu.Lock()
	e, ok := a.mu.byPrincipal[principal]
	a.mu.Unlock()
	if ok && time.Now().Before(e.until) {
		return e.acls, nil
	}
	var all []ACL
	for _, p := range []string{principal, "User:*"} {
		acls, err := a.describe(ctx, p)
		if err != nil {
			return nil, err
		}
		all = append(all, acls...)
	}
	a.mu.Lock()
	if len(a.mu.byPrincipal) >= maxCached {
		clear(a.mu.byPrincipal)
	}
	a.mu.byPrincipal[principal] = aclEntry{acls: all, until: time.Now().Add(a.cfg.CacheTTL)}
	a.mu.Unlock()
	return all, nil
}

// describe asks for every ACL naming principal. No lock is held: it is
// a request to the cluster.
func (a *ClusterACLs) describe(ctx context.Context, principal string) ([]ACL, error) {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType = kmsg.ACLResourceTypeAny
	req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	req.Operation = kmsg.ACLOperationAny
	req.PermissionType = kmsg.ACLPermissionTypeAny
	req.Principal = kmsg.StringPtr(principal)
	resp, err := req.RequestWith(ctx, a.cfg.Client)
	if err != nil {
		return nil, fmt.Errorf("kafkasec: describe ACLs of %s: %w", principal, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		msg := ""
		if resp.ErrorMessage != nil {
			msg = ": " + *resp.ErrorMessage
		}
		return nil, fmt.Errorf("kafkasec: describe ACLs of %s: %w%s", principal, err, msg)
	}
	var out []ACL
	for _, r := range resp.Resources {
		for _, acl := range r.ACLs {
			out = append(out, ACL{
				Principal: acl.Principal, Host: acl.Host,
				ResourceType: r.ResourceType, ResourceName: r.ResourceName, Pattern: r.ResourcePatternType,
				Operation: acl.Operation, Allow: acl.PermissionType == kmsg.ACLPermissionTypeAllow,
			})
		}
	}
	return out, nil
}
