package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func newGroupCmd() *cobra.Command {
	c := &conn{}
	cmd := &cobra.Command{
		Use:     "group",
		Aliases: []string{"groups"},
		Short:   "List, describe and delete consumer groups; reset their offsets to replay",
		Example: `  herald group list
  herald group describe billing
  herald group reset-offsets billing --topic orders --to-datetime 2024-05-01T12:00:00Z --execute`,
	}
	addConnFlags(cmd, c, true)
	cmd.AddCommand(newGroupListCmd(c), newGroupDescribeCmd(c), newGroupDeleteCmd(c), newGroupResetCmd(c))
	return cmd
}

type groupSummary struct {
	Name         string `json:"name" yaml:"name"`
	State        string `json:"state" yaml:"state"`
	ProtocolType string `json:"protocol_type" yaml:"protocol_type"`
	Members      int    `json:"members" yaml:"members"`
}

func newGroupListCmd(c *conn) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups with their state and member count",
		Example: `  herald group list
  herald group list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			adm, err := c.admin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			listed, err := adm.ListGroups(cmd.Context())
			if err != nil {
				return fmt.Errorf("list groups: %w", err)
			}
			described, err := adm.DescribeGroups(cmd.Context(), listed.Groups()...)
			if err != nil && len(listed) > 0 {
				return fmt.Errorf("describe groups: %w", err)
			}
			gs := []groupSummary{}
			var rows [][]string
			for _, l := range listed.Sorted() {
				s := groupSummary{Name: l.Group, State: l.State, ProtocolType: l.ProtocolType}
				if d, ok := described[l.Group]; ok {
					s.State, s.Members = d.State, len(d.Members)
				}
				gs = append(gs, s)
				rows = append(rows, []string{s.Name, s.State, strconv.Itoa(s.Members)})
			}
			return emit(cmd.OutOrStdout(), format, gs, func(w io.Writer) error {
				return writeTable(w, []string{"GROUP", "STATE", "MEMBERS"}, rows)
			})
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

// groupDescription is what `group describe` shows of a group.
type groupDescription struct {
	Name        string            `json:"name" yaml:"name"`
	Coordinator int32             `json:"coordinator" yaml:"coordinator"`
	State       string            `json:"state" yaml:"state"`
	Balancer    string            `json:"balancer" yaml:"balancer"`
	Members     int               `json:"members" yaml:"members"`
	TotalLag    int64             `json:"total_lag" yaml:"total_lag"`
	Partitions  []partitionLagRow `json:"partitions" yaml:"partitions"`
}

type partitionLagRow struct {
	Topic     string `json:"topic" yaml:"topic"`
	Partition int32  `json:"partition" yaml:"partition"`
	Committed int64  `json:"committed_offset" yaml:"committed_offset"` // -1: none
	End       int64  `json:"log_end_offset" yaml:"log_end_offset"`
	Lag       int64  `json:"lag" yaml:"lag"`
	MemberID  string `json:"member_id,omitempty" yaml:"member_id,omitempty"`
	ClientID  string `json:"client_id,omitempty" yaml:"client_id,omitempty"`
	Host      string `json:"host,omitempty" yaml:"host,omitempty"`
	Error     string `json:"error,omitempty" yaml:"error,omitempty"`
}

func newGroupDescribeCmd(c *conn) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's members, committed offsets and per-partition lag",
		Example: `  herald group describe billing
  herald group describe billing -o json | jq .[0].total_lag`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, groups []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			adm, err := c.admin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			lags, err := adm.Lag(cmd.Context(), groups...)
			if err != nil {
				return fmt.Errorf("describe groups: %w", err)
			}
			var ds []groupDescription
			for _, g := range groups {
				l, ok := lags[g]
				if !ok || isUnknownGroup(l) {
					return unknownGroup(g)
				}
				if err := l.Error(); err != nil {
					return fmt.Errorf("group %q: %w", g, err)
				}
				ds = append(ds, describeGroup(l))
			}
			return emit(cmd.OutOrStdout(), format, ds, func(w io.Writer) error {
				for _, d := range ds {
					if err := writeGroupDescription(w, d); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

// isUnknownGroup: brokers answer DescribeGroups for a group they do not
// know either with GROUP_ID_NOT_FOUND or as a Dead group without members;
// a group with committed offsets is known even when Dead or Empty.
func isUnknownGroup(l kadm.DescribedGroupLag) bool {
	if errors.Is(l.DescribeErr, kerr.GroupIDNotFound) {
		return true
	}
	return (l.State == "Dead" || l.State == "") && len(l.Members) == 0 && len(l.Lag) == 0
}

func unknownGroup(g string) error {
	return fmt.Errorf("unknown group %q (see `herald group list`)", g)
}

func describeGroup(l kadm.DescribedGroupLag) groupDescription {
	d := groupDescription{Name: l.Group, Coordinator: l.Coordinator.NodeID, State: l.State, Balancer: l.Protocol, Members: len(l.Members), Partitions: []partitionLagRow{}}
	for _, m := range l.Lag.Sorted() {
		r := partitionLagRow{Topic: m.Topic, Partition: m.Partition, Committed: m.Commit.At, End: m.End.Offset, Lag: m.Lag, Error: errString(m.Err)}
		if m.Member != nil {
			r.MemberID, r.ClientID, r.Host = m.Member.MemberID, m.Member.ClientID, m.Member.ClientHost
		}
		if m.Lag > 0 {
			d.TotalLag += m.Lag
		}
		d.Partitions = append(d.Partitions, r)
	}
	return d
}

func writeGroupDescription(w io.Writer, d groupDescription) error {
	for _, r := range [][2]string{
		{"GROUP", d.Name}, {"COORDINATOR", strconv.Itoa(int(d.Coordinator))}, {"STATE", d.State},
		{"BALANCER", dash(d.Balancer)}, {"MEMBERS", strconv.Itoa(d.Members)}, {"TOTAL-LAG", strconv.FormatInt(d.TotalLag, 10)},
	} {
		fmt.Fprintf(w, "%-13s%s\n", r[0], r[1])
	}
	fmt.Fprintln(w)
	header := []string{"TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID", "CLIENT-ID", "HOST"}
	withErrs := slices.ContainsFunc(d.Partitions, func(p partitionLagRow) bool { return p.Error != "" })
	if withErrs {
		header = append(header, "ERROR")
	}
	var rows [][]string
	for _, p := range d.Partitions {
		committed := "-"
		if p.Committed >= 0 {
			committed = strconv.FormatInt(p.Committed, 10)
		}
		row := []string{p.Topic, strconv.Itoa(int(p.Partition)), committed,
			strconv.FormatInt(p.End, 10), strconv.FormatInt(p.Lag, 10), dash(p.MemberID), dash(p.ClientID), dash(p.Host)}
		if withErrs {
			row = append(row, p.Error)
		}
		rows = append(rows, row)
	}
	if err := writeTable(w, header, rows); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newGroupDeleteCmd(c *conn) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "delete GROUP...",
		Aliases: []string{"rm"},
		Short:   "Delete consumer groups and their committed offsets",
		Example: `  herald group delete billing
  herald group delete billing audit -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, groups []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			return c.batchAdmin(cmd, format, "group", "delete groups", func(ctx context.Context, adm *kadm.Client) ([]itemResult, error) {
				resp, err := adm.DeleteGroups(ctx, groups...)
				var rs []itemResult
				for _, r := range resp.Sorted() {
					rs = append(rs, itemResult{Name: r.Group, Error: kafkaErr(r.Err, r.ErrMessage)})
				}
				return rs, err
			})
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

// resetFlags are `group reset-offsets`' settings.
type resetFlags struct {
	topics   []string
	earliest bool
	latest   bool
	datetime string
	offset   int64
	shift    int64
	execute  bool
	format   string
}

// resetPlanRow is one partition of a reset plan.
type resetPlanRow struct {
	Topic     string `json:"topic" yaml:"topic"`
	Partition int32  `json:"partition" yaml:"partition"`
	Current   int64  `json:"current_offset" yaml:"current_offset"` // -1: no commit
	New       int64  `json:"new_offset" yaml:"new_offset"`
	Error     string `json:"error,omitempty" yaml:"error,omitempty"`
}

func newGroupResetCmd(c *conn) *cobra.Command {
	f := &resetFlags{}
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP",
		Short: "Move a group's committed offsets, to replay (or skip) records",
		Long: `Move a group's committed offsets on the given topics (default: every
topic the group has offsets for). Give exactly one of --to-earliest,
--to-latest, --to-datetime, --to-offset or --shift-by. New offsets are
clamped to each partition's log start and end.

By default this is a dry run that prints the plan and changes nothing; add
--execute to commit it. The group must have no active members: stop its
consumers first, since a running member would overwrite the new offsets.

--to-datetime takes RFC 3339 (2024-05-01T12:00:00Z), a date (2024-05-01,
midnight UTC) or unix milliseconds; each partition moves to its first
record with a timestamp at or after it, so consuming with the group
replays exactly the records from that time on.`,
		Example: `  herald group reset-offsets billing --topic orders --to-datetime 2024-05-01T12:00:00Z
  herald group reset-offsets billing --topic orders --to-datetime 2024-05-01T12:00:00Z --execute
  herald group reset-offsets billing --to-earliest --execute
  herald group reset-offsets billing --topic orders --shift-by -100 --execute`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReset(cmd, c, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.topics, "topic", "t", nil, "topic to reset (repeatable; default: the group's topics)")
	fl.BoolVar(&f.earliest, "to-earliest", false, "reset to the log start")
	fl.BoolVar(&f.latest, "to-latest", false, "reset to the log end (skip everything)")
	fl.StringVar(&f.datetime, "to-datetime", "", "reset to the first record at or after this time")
	fl.Int64Var(&f.offset, "to-offset", 0, "reset every partition to this offset")
	fl.Int64Var(&f.shift, "shift-by", 0, "move each committed offset by N (negative: back)")
	fl.BoolVar(&f.execute, "execute", false, "apply the plan (default: dry run)")
	cmd.MarkFlagsMutuallyExclusive("to-earliest", "to-latest", "to-datetime", "to-offset", "shift-by")
	cmd.MarkFlagsOneRequired("to-earliest", "to-latest", "to-datetime", "to-offset", "shift-by")
	addFormatFlag(cmd, &f.format)
	return cmd
}

func runReset(cmd *cobra.Command, c *conn, f *resetFlags, group string) error {
	if err := checkFormat(f.format); err != nil {
		return err
	}
	var milli int64
	if f.datetime != "" {
		t, err := parseTime(f.datetime)
		if err != nil {
			return fmt.Errorf("invalid --to-datetime: %w", err)
		}
		milli = t.UnixMilli()
	}
	if cmd.Flags().Changed("to-offset") && f.offset < 0 {
		return fmt.Errorf("invalid --to-offset %d: offsets are 0 or more", f.offset)
	}
	ctx := cmd.Context()
	adm, err := c.admin(cmd)
	if err != nil {
		return err
	}
	defer adm.Close()
	committed, err := checkResettable(ctx, adm, group)
	if err != nil {
		return err
	}
	topics := f.topics
	if len(topics) == 0 {
		topics = committed.Offsets().TopicsSet().Topics()
		if len(topics) == 0 {
			return fmt.Errorf("group %q has no committed offsets: name the topics with --topic", group)
		}
	}
	stop := heartbeat(cmd.ErrOrStderr(), "resetting offsets of group "+group)
	plan, err := f.plan(ctx, adm, cmd, committed, topics, milli)
	if err == nil && f.execute {
		err = commitPlan(ctx, adm, group, plan)
	}
	stop()
	if err != nil {
		return err
	}
	if err := emitPlan(cmd.OutOrStdout(), f.format, plan, f.execute); err != nil {
		return err
	}
	if !f.execute {
		fmt.Fprintln(cmd.ErrOrStderr(), "dry run: nothing changed; add --execute to apply")
		return nil
	}
	return planErr(group, plan)
}

// checkResettable returns the group's committed offsets, or an error if
// the group is unknown or has active members.
func checkResettable(ctx context.Context, adm *kadm.Client, group string) (kadm.OffsetResponses, error) {
	lags, err := adm.Lag(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("describe group %q: %w", group, err)
	}
	l := lags[group]
	if isUnknownGroup(l) {
		return nil, unknownGroup(group)
	}
	if l.DescribeErr != nil {
		return nil, fmt.Errorf("describe group %q: %w", group, l.DescribeErr)
	}
	if n := len(l.Members); n > 0 {
		return nil, fmt.Errorf("group %q has %d active member(s) (state %s): stop its consumers before resetting offsets", group, n, l.State)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("offsets of group %q: %w", group, err)
	}
	return committed, nil
}

// plan computes the new offset of every partition of topics.
func (f *resetFlags) plan(ctx context.Context, adm *kadm.Client, cmd *cobra.Command, committed kadm.OffsetResponses, topics []string, milli int64) ([]resetPlanRow, error) {
	if err := checkTopics(ctx, adm, topics...); err != nil {
		return nil, err
	}
	starts, ends, err := listBounds(ctx, adm, topics)
	if err != nil {
		return nil, err
	}
	var after kadm.ListedOffsets
	if f.datetime != "" {
		if after, err = adm.ListOffsetsAfterMilli(ctx, milli, topics...); err == nil {
			err = after.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("list offsets by time: %w", err)
		}
	}
	var plan []resetPlanRow
	ends.Each(func(e kadm.ListedOffset) {
		st, _ := starts.Lookup(e.Topic, e.Partition)
		row := resetPlanRow{Topic: e.Topic, Partition: e.Partition, Current: -1}
		if o, ok := committed.Lookup(e.Topic, e.Partition); ok && o.Err == nil {
			row.Current = o.At
		}
		var at int64
		switch {
		case f.earliest:
			at = st.Offset
		case f.latest:
			at = e.Offset
		case f.datetime != "":
			at = e.Offset
			if a, ok := after.Lookup(e.Topic, e.Partition); ok && a.Offset >= 0 {
				at = a.Offset
			}
		case cmd.Flags().Changed("to-offset"):
			at = f.offset
		default: // --shift-by
			at = max(row.Current, st.Offset) + f.shift
		}
		row.New = min(max(at, st.Offset), e.Offset)
		plan = append(plan, row)
	})
	sort.Slice(plan, func(i, j int) bool {
		if plan[i].Topic != plan[j].Topic {
			return plan[i].Topic < plan[j].Topic
		}
		return plan[i].Partition < plan[j].Partition
	})
	return plan, nil
}

func commitPlan(ctx context.Context, adm *kadm.Client, group string, plan []resetPlanRow) error {
	os := kadm.Offsets{}
	for _, r := range plan {
		os.AddOffset(r.Topic, r.Partition, r.New, -1)
	}
	resp, err := adm.CommitOffsets(ctx, group, os)
	if err != nil {
		return fmt.Errorf("commit offsets of group %q: %w", group, err)
	}
	for i := range plan {
		if o, ok := resp.Lookup(plan[i].Topic, plan[i].Partition); ok {
			plan[i].Error = errString(o.Err)
		} else {
			plan[i].Error = "no answer for this partition"
		}
	}
	return nil
}

func emitPlan(w io.Writer, format string, plan []resetPlanRow, executed bool) error {
	var rows [][]string
	for _, r := range plan {
		cur := "-"
		if r.Current >= 0 {
			cur = strconv.FormatInt(r.Current, 10)
		}
		st := "planned"
		if executed {
			st = status(errOrNil(r.Error))
		}
		rows = append(rows, []string{r.Topic, strconv.Itoa(int(r.Partition)), cur, strconv.FormatInt(r.New, 10), st})
	}
	return emit(w, format, plan, func(w io.Writer) error {
		return writeTable(w, []string{"TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET", "STATUS"}, rows)
	})
}

func errOrNil(s string) error {
	if s == "" {
		return nil
	}
	return errors.New(s)
}

func planErr(group string, plan []resetPlanRow) error {
	failed := 0
	for _, r := range plan {
		if r.Error != "" {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("reset offsets of group %q: %d of %d partitions failed", group, failed, len(plan))
	}
	return nil
}
