package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newACLCmd() *cobra.Command {
	c := &conn{}
	cmd := &cobra.Command{
		Use:     "acl",
		Aliases: []string{"acls"},
		Short:   "Add, list and remove Kafka ACLs (a broker with --authorizer acl)",
		Long: `Add, list and remove access control lists, as Kafka's kafka-acls does.

An ACL lets (--allow-principal) or forbids (--deny-principal) a principal
(User:alice, or User:* for every user) an operation on resources: topics,
groups, transactional ids or the cluster, named literally ("*" is every
name) or by prefix (--resource-pattern-type prefixed), from a host (--host,
default every host). A DENY wins over any ALLOW. Changes apply at once and
survive a restart. Adding and removing needs ALTER on the cluster, listing
DESCRIBE.`,
		Example: `  herald acl add --allow-principal User:alice --operation write,describe --topic orders. --resource-pattern-type prefixed
  herald acl add --allow-principal User:billing --operation read --topic orders --group billing
  herald acl add --deny-principal User:alice --operation all --topic secrets --dry-run
  herald acl list
  herald acl list --topic orders --resource-pattern-type match -o json
  herald acl remove --allow-principal User:alice --topic orders. --resource-pattern-type prefixed`,
	}
	addConnFlags(cmd, c, true)
	cmd.AddCommand(newACLAddCmd(c), newACLListCmd(c), newACLRemoveCmd(c))
	return cmd
}

// aclFlags are the ACL commands' settings: the same flags for adding
// (they name ACLs) and for listing and removing (they filter ACLs).
type aclFlags struct {
	allow, deny            []string
	hosts                  []string
	ops                    []string
	topics, groups, txnIDs []string
	cluster                bool
	pattern                string
	dryRun                 bool
	format                 string
}

func addACLFlags(cmd *cobra.Command, f *aclFlags, pattern string, dryRun bool) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.allow, "allow-principal", nil, "principal the ACL allows, Type:Name (User:alice; User:* is every user)")
	fl.StringSliceVar(&f.deny, "deny-principal", nil, "principal the ACL denies, Type:Name")
	fl.StringSliceVar(&f.hosts, "host", nil, `client IP address the ACL applies to (default: every host, "*")`)
	fl.StringSliceVar(&f.ops, "operation", nil, "operations: read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs, idempotent_write, all")
	fl.StringSliceVar(&f.topics, "topic", nil, `topic names (or prefixes); "*" is every topic`)
	fl.StringSliceVar(&f.groups, "group", nil, "consumer group ids (or prefixes)")
	fl.StringSliceVar(&f.txnIDs, "transactional-id", nil, "transactional ids (or prefixes)")
	fl.BoolVar(&f.cluster, "cluster", false, "the cluster resource (kafka-cluster)")
	fl.StringVar(&f.pattern, "resource-pattern-type", pattern, "literal or prefixed (list and remove also take any and match)")
	if dryRun {
		fl.BoolVar(&f.dryRun, "dry-run", false, "show what would change and change nothing")
	}
	addFormatFlag(cmd, &f.format)
}

func (f *aclFlags) hasResource() bool {
	return len(f.topics)+len(f.groups)+len(f.txnIDs) > 0 || f.cluster
}

// parse checks the flags before anything is sent: known operations and
// pattern, Type:Name principals, a resource for add and remove.
func (f *aclFlags) parse(create bool) ([]kadm.ACLOperation, kadm.ACLPattern, error) {
	if err := checkFormat(f.format); err != nil {
		return nil, 0, err
	}
	var ops []kadm.ACLOperation
	for _, s := range f.ops {
		op, err := kmsg.ParseACLOperation(s)
		if err != nil || op == kmsg.ACLOperationUnknown || create && op == kmsg.ACLOperationAny {
			return nil, 0, fmt.Errorf("unknown --operation %q", s)
		}
		ops = append(ops, op)
	}
	pattern, err := kmsg.ParseACLResourcePatternType(f.pattern)
	if err != nil || create && pattern != kadm.ACLPatternLiteral && pattern != kadm.ACLPatternPrefixed {
		return nil, 0, fmt.Errorf("unknown --resource-pattern-type %q: want literal or prefixed%s", f.pattern, map[bool]string{false: ", any or match"}[create])
	}
	for _, p := range slices.Concat(f.allow, f.deny) {
		if typ, name, ok := strings.Cut(p, ":"); !ok || typ == "" || name == "" {
			return nil, 0, fmt.Errorf("principal %q: want Type:Name, e.g. User:alice", p)
		}
	}
	if create && (len(ops) == 0 || len(f.allow)+len(f.deny) == 0 || !f.hasResource()) {
		return nil, 0, errors.New("adding needs --operation, --allow-principal or --deny-principal, and a resource (--topic, --group, --transactional-id or --cluster)")
	}
	return ops, pattern, nil
}

// builder is the kadm ACL builder for the flags: the ACLs to create, or
// (filter) the ACLs to list or remove, where a missing principal, host,
// operation or resource matches any.
func (f *aclFlags) builder(ops []kadm.ACLOperation, pattern kadm.ACLPattern, filter bool) *kadm.ACLBuilder {
	b := kadm.NewACLs().ResourcePatternType(pattern).Operations(ops...)
	if len(f.topics) > 0 {
		b.Topics(f.topics...)
	}
	if len(f.groups) > 0 {
		b.Groups(f.groups...)
	}
	if len(f.txnIDs) > 0 {
		b.TransactionalIDs(f.txnIDs...)
	}
	if f.cluster {
		b.Clusters()
	}
	if filter && !f.hasResource() {
		b.AnyResource()
	}
	allow, deny := f.allow, f.deny
	if filter && len(allow)+len(deny) == 0 {
		b.Allow().Deny().AllowHosts(f.hosts...).DenyHosts(f.hosts...)
		return b
	}
	if len(allow) > 0 {
		b.Allow(allow...).AllowHosts(f.hosts...)
	}
	if len(deny) > 0 {
		b.Deny(deny...).DenyHosts(f.hosts...)
	}
	return b
}

// aclRow is one ACL in the commands' output.
type aclRow struct {
	Principal  string `json:"principal" yaml:"principal"`
	Host       string `json:"host" yaml:"host"`
	Permission string `json:"permission" yaml:"permission"`
	Operation  string `json:"operation" yaml:"operation"`
	Resource   string `json:"resource_type" yaml:"resource_type"`
	Pattern    string `json:"pattern_type" yaml:"pattern_type"`
	Name       string `json:"name" yaml:"name"`
	Error      string `json:"error,omitempty" yaml:"error,omitempty"`
}

func newACLRow(principal, host string, perm kmsg.ACLPermissionType, op kmsg.ACLOperation,
	rt kmsg.ACLResourceType, pattern kmsg.ACLResourcePatternType, name string) aclRow {
	return aclRow{
		Principal: principal, Host: host, Permission: perm.String(), Operation: op.String(),
		Resource: rt.String(), Pattern: pattern.String(), Name: name,
	}
}

// planned expands the flags into the ACLs add creates, the same product
// kadm.CreateACLs makes: every resource, operation, principal and host.
func (f *aclFlags) planned(ops []kadm.ACLOperation, pattern kadm.ACLPattern) []aclRow {
	hosts := f.hosts
	if len(hosts) == 0 {
		hosts = []string{"*"}
	}
	type res struct {
		rt   kmsg.ACLResourceType
		name string
	}
	var rs []res
	for _, n := range f.topics {
		rs = append(rs, res{kmsg.ACLResourceTypeTopic, n})
	}
	for _, n := range f.groups {
		rs = append(rs, res{kmsg.ACLResourceTypeGroup, n})
	}
	if f.cluster {
		rs = append(rs, res{kmsg.ACLResourceTypeCluster, "kafka-cluster"})
	}
	for _, n := range f.txnIDs {
		rs = append(rs, res{kmsg.ACLResourceTypeTransactionalId, n})
	}
	var rows []aclRow
	for _, r := range rs {
		for _, op := range ops {
			for _, h := range hosts {
				for _, p := range f.allow {
					rows = append(rows, newACLRow(p, h, kmsg.ACLPermissionTypeAllow, op, r.rt, pattern, r.name))
				}
				for _, p := range f.deny {
					rows = append(rows, newACLRow(p, h, kmsg.ACLPermissionTypeDeny, op, r.rt, pattern, r.name))
				}
			}
		}
	}
	return rows
}

func newACLAddCmd(c *conn) *cobra.Command {
	f := &aclFlags{}
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add ACLs: every combination of the principals, hosts, operations and resources given",
		Example: `  herald acl add --allow-principal User:alice --operation read,describe --topic orders --group billing
  herald acl add --deny-principal User:* --host 10.0.0.7 --operation all --topic "*" --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ops, pattern, err := f.parse(true)
			if err != nil {
				return err
			}
			if f.dryRun {
				return emitACLs(cmd, f.format, f.planned(ops, pattern), "dry run: would add")
			}
			adm, err := c.admin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			rs, err := adm.CreateACLs(cmd.Context(), f.builder(ops, pattern, false))
			if err != nil {
				return fmt.Errorf("add acls: %w", err)
			}
			var rows []aclRow
			for _, r := range rs {
				row := newACLRow(r.Principal, r.Host, r.Permission, r.Operation, r.Type, r.Pattern, r.Name)
				row.Error = kafkaErr(r.Err, r.ErrMessage)
				rows = append(rows, row)
			}
			return emitACLs(cmd, f.format, rows, "added")
		},
	}
	addACLFlags(cmd, f, "literal", true)
	return cmd
}

func newACLListCmd(c *conn) *cobra.Command {
	f := &aclFlags{}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List ACLs, all of them or those the flags select",
		Long: `List ACLs. Without flags, every ACL; each flag narrows the list. With
--resource-pattern-type match and a name, the ACLs that apply to that
resource: its literal name, "*", and every prefix of it.`,
		Example: `  herald acl list
  herald acl list --allow-principal User:alice
  herald acl list --topic orders --resource-pattern-type match`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ops, pattern, err := f.parse(false)
			if err != nil {
				return err
			}
			rows, err := describeACLs(cmd, c, f.builder(ops, pattern, true))
			if err != nil {
				return err
			}
			return emitACLs(cmd, f.format, rows, "")
		},
	}
	addACLFlags(cmd, f, "any", false)
	return cmd
}

func newACLRemoveCmd(c *conn) *cobra.Command {
	f := &aclFlags{}
	cmd := &cobra.Command{
		Use:     "remove",
		Aliases: []string{"rm", "delete"},
		Short:   "Remove the ACLs the flags select (a resource is required)",
		Long: `Remove every ACL the flags select: a missing principal, host or
operation matches any. A resource is required, so that a slip does not
remove every ACL; --topic "*" names the literal "*" ACLs, and
--resource-pattern-type any every pattern of the names given.`,
		Example: `  herald acl remove --allow-principal User:alice --topic orders
  herald acl remove --topic orders. --resource-pattern-type prefixed --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ops, pattern, err := f.parse(false)
			if err != nil {
				return err
			}
			if !f.hasResource() {
				return errors.New("remove needs a resource: --topic, --group, --transactional-id or --cluster")
			}
			b := f.builder(ops, pattern, true)
			if f.dryRun {
				rows, err := describeACLs(cmd, c, b)
				if err != nil {
					return err
				}
				return emitACLs(cmd, f.format, rows, "dry run: would remove")
			}
			return removeACLs(cmd, c, f.format, b)
		},
	}
	addACLFlags(cmd, f, "literal", true)
	return cmd
}

// describeACLs lists the ACLs b selects.
func describeACLs(cmd *cobra.Command, c *conn, b *kadm.ACLBuilder) ([]aclRow, error) {
	adm, err := c.admin(cmd)
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	rs, err := adm.DescribeACLs(cmd.Context(), b)
	if err != nil {
		return nil, fmt.Errorf("list acls: %w", err)
	}
	var rows []aclRow
	for _, r := range rs {
		if r.Err != nil {
			return nil, fmt.Errorf("list acls: %s", kafkaErr(r.Err, r.ErrMessage))
		}
		for _, d := range r.Described {
			rows = append(rows, newACLRow(d.Principal, d.Host, d.Permission, d.Operation, d.Type, d.Pattern, d.Name))
		}
	}
	return rows, nil
}

func removeACLs(cmd *cobra.Command, c *conn, format string, b *kadm.ACLBuilder) error {
	adm, err := c.admin(cmd)
	if err != nil {
		return err
	}
	defer adm.Close()
	rs, err := adm.DeleteACLs(cmd.Context(), b)
	if err != nil {
		return fmt.Errorf("remove acls: %w", err)
	}
	var rows []aclRow
	var errs []error
	for _, r := range rs {
		if r.Err != nil {
			errs = append(errs, errors.New(kafkaErr(r.Err, r.ErrMessage)))
		}
		for _, d := range r.Deleted {
			row := newACLRow(d.Principal, d.Host, d.Permission, d.Operation, d.Type, d.Pattern, d.Name)
			row.Error = kafkaErr(d.Err, d.ErrMessage)
			rows = append(rows, row)
		}
	}
	if err := emitACLs(cmd, format, rows, "removed"); err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove acls: %w", errors.Join(errs...))
	}
	return nil
}

// emitACLs prints rows, sorted and without duplicates (two filters may
// match one ACL), with verb ("added", "dry run: would add", ...) as a
// summary on stderr; it fails when a row has an error.
func emitACLs(cmd *cobra.Command, format string, rows []aclRow, verb string) error {
	slices.SortFunc(rows, compareACLRows)
	rows = slices.Compact(rows)
	if rows == nil {
		rows = []aclRow{}
	}
	failed := 0
	for _, r := range rows {
		if r.Error != "" {
			failed++
		}
	}
	err := emit(cmd.OutOrStdout(), format, rows, func(w io.Writer) error { return writeACLTable(w, rows, failed > 0) })
	if err != nil {
		return err
	}
	if verb != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s %s\n", verb, plural(len(rows)-failed, "ACL"))
	}
	if failed > 0 {
		return fmt.Errorf("%s failed", plural(failed, "ACL"))
	}
	return nil
}

func compareACLRows(a, b aclRow) int {
	return cmp.Or(cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Pattern, b.Pattern), cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.Host, b.Host), cmp.Compare(a.Permission, b.Permission),
		cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Error, b.Error))
}

func writeACLTable(w io.Writer, rows []aclRow, withStatus bool) error {
	header := []string{"PRINCIPAL", "HOST", "PERMISSION", "OPERATION", "RESOURCE", "PATTERN", "NAME"}
	if withStatus {
		header = append(header, "STATUS")
	}
	out := make([][]string, 0, len(rows))
	for _, r := range rows {
		row := []string{r.Principal, r.Host, r.Permission, r.Operation, r.Resource, r.Pattern, r.Name}
		if withStatus {
			row = append(row, cmp.Or(r.Error, "OK"))
		}
		out = append(out, row)
	}
	return writeTable(w, header, out)
}
