package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newQuotaCmd() *cobra.Command {
	c := &conn{}
	cmd := &cobra.Command{
		Use:     "quota",
		Aliases: []string{"quotas"},
		Short:   "Describe and alter client quotas (byte rates and request time per user and client id)",
		Long: `Describe and alter client quotas, as Kafka's kafka-configs does for
users and clients (KIP-546).

A quota entity is a user, a client id, or both, each named or the default
(--default user, --default client-id); a client gets the most specific
quota that applies to it (user and client id, then user, then client id,
named before default). Keys: producer_byte_rate and consumer_byte_rate
(bytes per second), request_percentage (% of one request handler thread),
controller_mutation_rate (stored only); an ip entity (--ip, --default ip)
takes connection_creation_rate (new connections per second). Changes apply at once and survive
a restart; a client over its quota is throttled. Altering needs
ALTER_CONFIGS on the cluster, describing DESCRIBE_CONFIGS.`,
		Example: `  herald quota alter --client-id ingest --add producer_byte_rate=1048576
  herald quota alter --user alice --default client-id --add consumer_byte_rate=2097152,request_percentage=50
  herald quota alter --client-id ingest --delete producer_byte_rate
  herald quota alter --default ip --add connection_creation_rate=50
  herald quota describe
  herald quota describe --user alice -o json`,
	}
	addConnFlags(cmd, c, true)
	cmd.AddCommand(newQuotaDescribeCmd(c), newQuotaAlterCmd(c))
	return cmd
}

// quotaEntityFlags name an entity (alter) or filter entities (describe).
type quotaEntityFlags struct {
	users, clientIDs, ips []string // at most one each for alter
	defaults              []string // entity types: user, client-id, ip
	any                   []string // describe: entity types matching any name
}

func addQuotaEntityFlags(cmd *cobra.Command, f *quotaEntityFlags, describe bool) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.users, "user", nil, "user (principal name)")
	fl.StringSliceVar(&f.clientIDs, "client-id", nil, "client id")
	fl.StringSliceVar(&f.ips, "ip", nil, "client IP address (connection_creation_rate only)")
	fl.StringSliceVar(&f.defaults, "default", nil, "the default entity of a type: user, client-id or ip")
	if describe {
		fl.StringSliceVar(&f.any, "any", nil, "any named entity of a type: user, client-id or ip")
	}
}

// components checks the flags: each entity type once, known types.
func (f *quotaEntityFlags) components() ([]kadm.DescribeClientQuotaComponent, error) {
	var out []kadm.DescribeClientQuotaComponent
	seen := map[string]bool{}
	add := func(typ string, name *string, match kmsg.QuotasMatchType) error {
		if typ != "user" && typ != "client-id" && typ != "ip" {
			return fmt.Errorf("unknown entity type %q: want user, client-id or ip", typ)
		}
		if seen[typ] {
			return fmt.Errorf("entity type %s given twice", typ)
		}
		seen[typ] = true
		out = append(out, kadm.DescribeClientQuotaComponent{Type: typ, MatchName: name, MatchType: match})
		return nil
	}
	for _, u := range f.users {
		if err := add("user", &u, 0); err != nil {
			return nil, err
		}
	}
	for _, c := range f.clientIDs {
		if err := add("client-id", &c, 0); err != nil {
			return nil, err
		}
	}
	for _, ip := range f.ips {
		if err := add("ip", &ip, 0); err != nil {
			return nil, err
		}
	}
	for _, d := range f.defaults {
		if err := add(d, nil, 1); err != nil {
			return nil, err
		}
	}
	for _, a := range f.any {
		if err := add(a, nil, 2); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// quotaRow is one entity in the commands' output; a null name is the
// default entity.
type quotaRow struct {
	Entity map[string]*string `json:"entity" yaml:"entity"`
	Values map[string]float64 `json:"values,omitempty" yaml:"values,omitempty"`
	Error  string             `json:"error,omitempty" yaml:"error,omitempty"`
	entity kadm.ClientQuotaEntity
}

func newQuotaRow(e kadm.ClientQuotaEntity) quotaRow {
	r := quotaRow{Entity: map[string]*string{}, entity: e}
	for _, c := range e {
		r.Entity[c.Type] = c.Name
	}
	return r
}

func newQuotaDescribeCmd(c *conn) *cobra.Command {
	f := &quotaEntityFlags{}
	var strict bool
	var format string
	cmd := &cobra.Command{
		Use:     "describe",
		Aliases: []string{"list", "ls"},
		Short:   "Describe client quotas: all, or the entities the flags select",
		Long: `Describe client quotas. Without flags, every entity; --user and
--client-id select by name, --default the default entity of a type, --any
every named entity of a type. An entity may have other parts unless
--strict.`,
		Example: `  herald quota describe
  herald quota describe --client-id ingest
  herald quota describe --default user --strict -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			comps, err := f.components()
			if err != nil {
				return err
			}
			adm, err := c.admin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			qs, err := adm.DescribeClientQuotas(cmd.Context(), strict, comps)
			if err != nil {
				return fmt.Errorf("describe quotas: %w", err)
			}
			rows := []quotaRow{}
			for _, q := range qs {
				r := newQuotaRow(q.Entity)
				r.Values = map[string]float64{}
				for _, v := range q.Values {
					r.Values[v.Key] = v.Value
				}
				rows = append(rows, r)
			}
			return emit(cmd.OutOrStdout(), format, rows, func(w io.Writer) error { return quotaTable(w, rows) })
		},
	}
	addQuotaEntityFlags(cmd, f, true)
	cmd.Flags().BoolVar(&strict, "strict", false, "only entities with exactly the entity types given")
	addFormatFlag(cmd, &format)
	return cmd
}

// quotaTable writes one line per entity and key.
func quotaTable(w io.Writer, rows []quotaRow) error {
	var lines [][]string
	for _, r := range rows {
		keys := sortedKeys(r.Values)
		for _, k := range keys {
			lines = append(lines, []string{r.entity.String(), k, strconv.FormatFloat(r.Values[k], 'f', -1, 64)})
		}
	}
	return writeTable(w, []string{"ENTITY", "KEY", "VALUE"}, lines)
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func newQuotaAlterCmd(c *conn) *cobra.Command {
	f := &quotaEntityFlags{}
	var adds, deletes []string
	var validateOnly bool
	var format string
	cmd := &cobra.Command{
		Use:   "alter",
		Short: "Set (--add key=value) and remove (--delete key) the quotas of one entity",
		Example: `  herald quota alter --client-id ingest --add producer_byte_rate=1048576
  herald quota alter --default user --add request_percentage=200 --validate-only
  herald quota alter --user alice --client-id app --delete consumer_byte_rate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			entry, err := quotaAlteration(f, adds, deletes)
			if err != nil {
				return err
			}
			adm, err := c.admin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			alter := adm.AlterClientQuotas
			if validateOnly {
				alter = adm.ValidateAlterClientQuotas
			}
			rs, err := alter(cmd.Context(), []kadm.AlterClientQuotaEntry{entry})
			if err != nil {
				return fmt.Errorf("alter quotas: %w", err)
			}
			rows := []quotaRow{}
			var failed error
			for _, r := range rs {
				row := newQuotaRow(r.Entity)
				if row.Error = kafkaErr(r.Err, r.ErrMessage); row.Error != "" {
					failed = fmt.Errorf("alter quotas of %s: %s", r.Entity, row.Error)
				}
				rows = append(rows, row)
			}
			if err := emit(cmd.OutOrStdout(), format, rows, func(w io.Writer) error { return alteredTable(w, rows, validateOnly) }); err != nil {
				return err
			}
			return failed
		},
	}
	addQuotaEntityFlags(cmd, f, false)
	fl := cmd.Flags()
	fl.StringSliceVar(&adds, "add", nil, "quotas to set, key=value (producer_byte_rate, consumer_byte_rate, request_percentage, controller_mutation_rate; connection_creation_rate for an ip)")
	fl.StringSliceVar(&deletes, "delete", nil, "quota keys to remove")
	fl.BoolVar(&validateOnly, "validate-only", false, "have the broker check the change and change nothing")
	addFormatFlag(cmd, &format)
	return cmd
}

// quotaAlteration checks the alter flags and builds the entry: one user
// and one client id at most, at least one change, numeric values.
func quotaAlteration(f *quotaEntityFlags, adds, deletes []string) (kadm.AlterClientQuotaEntry, error) {
	var e kadm.AlterClientQuotaEntry
	if len(f.users) > 1 || len(f.clientIDs) > 1 || len(f.ips) > 1 {
		return e, errors.New("alter takes one entity: at most one --user, --client-id and --ip")
	}
	comps, err := f.components()
	if err != nil {
		return e, err
	}
	if len(comps) == 0 {
		return e, errors.New("alter needs an entity: --user, --client-id, --ip or --default")
	}
	for _, c := range comps {
		e.Entity = append(e.Entity, kadm.ClientQuotaEntityComponent{Type: c.Type, Name: c.MatchName})
	}
	if len(adds)+len(deletes) == 0 {
		return e, errors.New("alter needs --add key=value or --delete key")
	}
	for _, a := range adds {
		k, v, ok := strings.Cut(a, "=")
		n, err := strconv.ParseFloat(v, 64)
		if !ok || k == "" || err != nil {
			return e, fmt.Errorf("--add %q: want key=number, e.g. producer_byte_rate=1048576", a)
		}
		e.Ops = append(e.Ops, kadm.AlterClientQuotaOp{Key: k, Value: n})
	}
	for _, d := range deletes {
		e.Ops = append(e.Ops, kadm.AlterClientQuotaOp{Key: d, Remove: true})
	}
	return e, nil
}

func alteredTable(w io.Writer, rows []quotaRow, validateOnly bool) error {
	var lines [][]string
	for _, r := range rows {
		st := "altered"
		if validateOnly {
			st = "valid (nothing changed)"
		}
		if r.Error != "" {
			st = r.Error
		}
		lines = append(lines, []string{r.entity.String(), st})
	}
	return writeTable(w, []string{"ENTITY", "STATUS"}, lines)
}
