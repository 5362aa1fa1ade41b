package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func newTopicCmd() *cobra.Command {
	c := &conn{}
	cmd := &cobra.Command{
		Use:     "topic",
		Aliases: []string{"topics"},
		Short:   "Create, list, describe, delete and configure topics",
		Example: `  herald topic create orders -p 6
  herald topic list
  herald topic describe orders`,
	}
	addConnFlags(cmd, c, true)
	cmd.AddCommand(
		newTopicCreateCmd(c),
		newTopicListCmd(c),
		newTopicDescribeCmd(c),
		newTopicDeleteCmd(c),
		newTopicAlterConfigCmd(c),
		newTopicAddPartitionsCmd(c),
	)
	return cmd
}

// itemResult is one item of a batch operation (create, delete, ...).
type itemResult struct {
	Name  string `json:"name" yaml:"name"`
	Error string `json:"error,omitempty" yaml:"error,omitempty"`
}

// emitResults prints per-item results and returns an error counting the
// failures, so a batch that partly failed exits non-zero.
func emitResults(w io.Writer, format, what string, rs []itemResult) error {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
	failed := 0
	rows := make([][]string, 0, len(rs))
	for _, r := range rs {
		st := "OK"
		if r.Error != "" {
			st, failed = r.Error, failed+1
		}
		rows = append(rows, []string{r.Name, st})
	}
	err := emit(w, format, rs, func(w io.Writer) error {
		return writeTable(w, []string{strings.ToUpper(what), "STATUS"}, rows)
	})
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d failed", failed, len(rs))
	}
	return nil
}

func newTopicCreateCmd(c *conn) *cobra.Command {
	var (
		partitions int32
		replicas   int16
		configs    []string
		format     string
	)
	cmd := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Example: `  herald topic create orders
  herald topic create orders payments -p 12 -c retention.ms=86400000`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			cfg, err := parseKeyValues("--config", configs)
			if err != nil {
				return err
			}
			return c.batchAdmin(cmd, format, "topic", "create topics", func(ctx context.Context, adm *kadm.Client) ([]itemResult, error) {
				resp, err := adm.CreateTopics(ctx, partitions, replicas, cfg, topics...)
				var rs []itemResult
				for _, r := range resp {
					rs = append(rs, itemResult{Name: r.Topic, Error: kafkaErr(r.Err, r.ErrMessage)})
				}
				return rs, err
			})
		},
	}
	fl := cmd.Flags()
	fl.Int32VarP(&partitions, "partitions", "p", -1, "partitions per topic (-1: the broker default)")
	fl.Int16VarP(&replicas, "replicas", "r", -1, "replication factor (-1: the broker default)")
	fl.StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable)")
	addFormatFlag(cmd, &format)
	return cmd
}

// parseKeyValues parses k=v flags into the map kadm takes for configs.
func parseKeyValues(flag string, kvs []string) (map[string]*string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid %s %q: want key=value", flag, kv)
		}
		m[k] = &v
	}
	return m, nil
}

// kafkaErr is the text of a per-item Kafka error with the broker's
// message, if any.
func kafkaErr(err error, msg string) string {
	if err == nil {
		return ""
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		return err.Error() + ": " + msg
	}
	return err.Error()
}

type topicSummary struct {
	Name       string `json:"name" yaml:"name"`
	Partitions int    `json:"partitions" yaml:"partitions"`
	Replicas   int    `json:"replicas" yaml:"replicas"`
	Internal   bool   `json:"internal,omitempty" yaml:"internal,omitempty"`
}

func newTopicListCmd(c *conn) *cobra.Command {
	var (
		internal bool
		format   string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Example: `  herald topic list
  herald topic list --internal -o json`,
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
			tds, err := adm.ListTopicsWithInternal(cmd.Context())
			if err != nil {
				return fmt.Errorf("list topics: %w", err)
			}
			ts := []topicSummary{}
			var rows [][]string
			for _, td := range tds.Sorted() {
				td.IsInternal = isInternal(td)
				if td.IsInternal && !internal {
					continue
				}
				s := topicSummary{Name: td.Topic, Partitions: len(td.Partitions), Replicas: td.Partitions.NumReplicas(), Internal: td.IsInternal}
				ts = append(ts, s)
				rows = append(rows, []string{s.Name, strconv.Itoa(s.Partitions), strconv.Itoa(s.Replicas)})
			}
			return emit(cmd.OutOrStdout(), format, ts, func(w io.Writer) error {
				return writeTable(w, []string{"NAME", "PARTITIONS", "REPLICAS"}, rows)
			})
		},
	}
	cmd.Flags().BoolVarP(&internal, "internal", "i", false, "include internal topics (__consumer_offsets, ...)")
	addFormatFlag(cmd, &format)
	return cmd
}

// topicDescription is everything `topic describe` shows about a topic.
type topicDescription struct {
	Name       string              `json:"name" yaml:"name"`
	ID         string              `json:"id" yaml:"id"`
	Internal   bool                `json:"internal" yaml:"internal"`
	Partitions []partitionDesc     `json:"partitions" yaml:"partitions"`
	Configs    []configDescription `json:"configs" yaml:"configs"`
}

type partitionDesc struct {
	Partition     int32   `json:"partition" yaml:"partition"`
	Leader        int32   `json:"leader" yaml:"leader"`
	Replicas      []int32 `json:"replicas" yaml:"replicas"`
	LogStart      int64   `json:"log_start_offset" yaml:"log_start_offset"`
	HighWatermark int64   `json:"high_watermark" yaml:"high_watermark"`
	SizeBytes     int64   `json:"size_bytes" yaml:"size_bytes"` // -1 if the broker did not say
}

type configDescription struct {
	Key    string `json:"key" yaml:"key"`
	Value  string `json:"value" yaml:"value"`
	Source string `json:"source" yaml:"source"`
}

func newTopicDescribeCmd(c *conn) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "describe TOPIC...",
		Short: "Show partitions, offsets, sizes and configs of topics",
		Example: `  herald topic describe orders
  herald topic describe orders -o json | jq '.[0].partitions'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			adm, err := c.admin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			ds, err := describeTopics(cmd, adm, topics)
			if err != nil {
				return err
			}
			return emit(cmd.OutOrStdout(), format, ds, func(w io.Writer) error {
				for _, d := range ds {
					if err := writeTopicDescription(w, d); err != nil {
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

func describeTopics(cmd *cobra.Command, adm *kadm.Client, topics []string) ([]topicDescription, error) {
	ctx := cmd.Context()
	tds, err := adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("describe topics: %w", err)
	}
	for _, t := range topics {
		if td, ok := tds[t]; !ok || td.Err != nil {
			return nil, unknownTopic(t, td.Err)
		}
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("describe topic configs: %w", err)
	}
	// Sizes are optional: not every cluster answers DescribeLogDirs to
	// every user.
	dirs, _ := adm.DescribeAllLogDirs(ctx, nil)
	var out []topicDescription
	for _, t := range topics {
		out = append(out, describeTopic(tds[t], starts, ends, cfgs, dirs))
	}
	return out, nil
}

func describeTopic(td kadm.TopicDetail, starts, ends kadm.ListedOffsets, cfgs kadm.ResourceConfigs, dirs kadm.DescribedAllLogDirs) topicDescription {
	d := topicDescription{Name: td.Topic, ID: td.ID.String(), Internal: td.IsInternal, Configs: []configDescription{}}
	for _, p := range td.Partitions.Sorted() {
		pd := partitionDesc{Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, LogStart: -1, HighWatermark: -1, SizeBytes: -1}
		if o, ok := starts.Lookup(td.Topic, p.Partition); ok && o.Err == nil {
			pd.LogStart = o.Offset
		}
		if o, ok := ends.Lookup(td.Topic, p.Partition); ok && o.Err == nil {
			pd.HighWatermark = o.Offset
		}
		for _, dir := range dirs {
			for _, ld := range dir {
				if lp, ok := ld.Topics.Lookup(td.Topic, p.Partition); ok {
					pd.SizeBytes = max(pd.SizeBytes, 0) + lp.Size
				}
			}
		}
		d.Partitions = append(d.Partitions, pd)
	}
	if rc, err := cfgs.On(td.Topic, nil); err == nil {
		for _, c := range rc.Configs {
			d.Configs = append(d.Configs, configDescription{Key: c.Key, Value: c.MaybeValue(), Source: configSource(c)})
		}
		sort.Slice(d.Configs, func(i, j int) bool { return d.Configs[i].Key < d.Configs[j].Key })
	}
	return d
}

func configSource(c kadm.Config) string {
	s := strings.ToUpper(c.Source.String())
	return strings.TrimSuffix(strings.TrimPrefix(s, "CONFIGSOURCE"), "_CONFIG")
}

func writeTopicDescription(w io.Writer, d topicDescription) error {
	summary := [][]string{{"NAME", d.Name}, {"ID", d.ID}, {"INTERNAL", strconv.FormatBool(d.Internal)}, {"PARTITIONS", strconv.Itoa(len(d.Partitions))}}
	fmt.Fprintf(w, "SUMMARY\n=======\n")
	for _, r := range summary {
		fmt.Fprintf(w, "%-12s%s\n", r[0], r[1])
	}
	fmt.Fprintln(w)
	var rows [][]string
	for _, c := range d.Configs {
		rows = append(rows, []string{c.Key, c.Value, c.Source})
	}
	if err := writeSection(w, "CONFIGS", []string{"KEY", "VALUE", "SOURCE"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, p := range d.Partitions {
		size := "-"
		if p.SizeBytes >= 0 {
			size = strconv.FormatInt(p.SizeBytes, 10)
		}
		rows = append(rows, []string{
			strconv.Itoa(int(p.Partition)), strconv.Itoa(int(p.Leader)), fmt.Sprint(p.Replicas),
			strconv.FormatInt(p.LogStart, 10), strconv.FormatInt(p.HighWatermark, 10), size,
		})
	}
	return writeSection(w, "PARTITIONS", []string{"PARTITION", "LEADER", "REPLICAS", "LOG-START-OFFSET", "HIGH-WATERMARK", "SIZE"}, rows)
}

// isInternal reports whether a topic is internal: flagged so by the
// broker, or named like Kafka's internal topics (__consumer_offsets,
// __transaction_state), which not every broker flags.
func isInternal(td kadm.TopicDetail) bool {
	return td.IsInternal || strings.HasPrefix(td.Topic, "__")
}

// unknownTopic is the error for a topic the cluster does not have.
func unknownTopic(t string, err error) error {
	if err == nil || errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("unknown topic %q (see `herald topic list`)", t)
	}
	return fmt.Errorf("topic %q: %w", t, err)
}

func newTopicDeleteCmd(c *conn) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "delete TOPIC...",
		Aliases: []string{"rm"},
		Short:   "Delete topics and all their records",
		Example: `  herald topic delete orders
  herald topic delete orders payments -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			return c.batchAdmin(cmd, format, "topic", "delete topics", func(ctx context.Context, adm *kadm.Client) ([]itemResult, error) {
				resp, err := adm.DeleteTopics(ctx, topics...)
				var rs []itemResult
				for _, r := range resp {
					rs = append(rs, itemResult{Name: r.Topic, Error: kafkaErr(r.Err, r.ErrMessage)})
				}
				return rs, err
			})
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

func newTopicAlterConfigCmd(c *conn) *cobra.Command {
	var (
		set, del []string
		format   string
	)
	cmd := &cobra.Command{
		Use:   "alter-config TOPIC...",
		Short: "Set or remove topic configs (incrementally)",
		Example: `  herald topic alter-config orders --set retention.ms=3600000
  herald topic alter-config orders --delete retention.ms`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			alters, err := alterConfigs(set, del)
			if err != nil {
				return err
			}
			return c.batchAdmin(cmd, format, "topic", "alter topic configs", func(ctx context.Context, adm *kadm.Client) ([]itemResult, error) {
				resp, err := adm.AlterTopicConfigs(ctx, alters, topics...)
				var rs []itemResult
				for _, r := range resp {
					rs = append(rs, itemResult{Name: r.Name, Error: kafkaErr(r.Err, r.ErrMessage)})
				}
				return rs, err
			})
		},
	}
	cmd.Flags().StringArrayVarP(&set, "set", "s", nil, "config key=value to set (repeatable)")
	cmd.Flags().StringArrayVarP(&del, "delete", "d", nil, "config key to remove, back to the default (repeatable)")
	addFormatFlag(cmd, &format)
	return cmd
}

func alterConfigs(set, del []string) ([]kadm.AlterConfig, error) {
	if len(set)+len(del) == 0 {
		return nil, errors.New("nothing to change: give --set key=value or --delete key")
	}
	kvs, err := parseKeyValues("--set", set)
	if err != nil {
		return nil, err
	}
	var out []kadm.AlterConfig
	for k, v := range kvs {
		out = append(out, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: v})
	}
	for _, k := range del {
		out = append(out, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	return out, nil
}

func newTopicAddPartitionsCmd(c *conn) *cobra.Command {
	var (
		num    int
		format string
	)
	cmd := &cobra.Command{
		Use:     "add-partitions TOPIC...",
		Short:   "Add partitions to topics",
		Example: `  herald topic add-partitions orders --num 3`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if num <= 0 {
				return fmt.Errorf("invalid --num %d: want the number of partitions to add, at least 1", num)
			}
			return c.batchAdmin(cmd, format, "topic", "add partitions", func(ctx context.Context, adm *kadm.Client) ([]itemResult, error) {
				resp, err := adm.CreatePartitions(ctx, num, topics...)
				var rs []itemResult
				for _, r := range resp {
					rs = append(rs, itemResult{Name: r.Topic, Error: kafkaErr(r.Err, r.ErrMessage)})
				}
				return rs, err
			})
		},
	}
	cmd.Flags().IntVarP(&num, "num", "n", 0, "partitions to add to each topic")
	addFormatFlag(cmd, &format)
	return cmd
}
