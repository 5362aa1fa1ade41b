package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/heraldhq/herald/pubsub"
)

func newDLQCmd() *cobra.Command {
	c := &conn{}
	cmd := &cobra.Command{
		Use:     "dlq",
		Short:   "Work with dead-letter topics written by the pubsub SDK",
		Example: `  herald dlq redrive orders.dlq --group orders-redrive`,
	}
	addConnFlags(cmd, c, true)
	cmd.AddCommand(newDLQRedriveCmd(c))
	return cmd
}

type redriveResult struct {
	Topic    string `json:"topic" yaml:"topic"`
	Redriven int    `json:"redriven" yaml:"redriven"`
	Skipped  int    `json:"skipped" yaml:"skipped"`
}

func newDLQRedriveCmd(c *conn) *cobra.Command {
	var (
		opts   pubsub.RedriveOptions
		format string
	)
	cmd := &cobra.Command{
		Use:   "redrive DLQ_TOPIC",
		Short: "Publish dead letters back to their origin topic (or --target)",
		Long: `Publish the letters of a dead-letter topic back to the topic each came
from (its dlq_topic header) or to --target, up to the end of the
dead-letter topic as it is now. Progress is committed to --group, so
running the command again re-drives only letters that arrived since, and
an interrupted run resumes where it stopped. Re-driven records keep key,
value and headers (less the dlq_ headers) plus dlq_redrives.`,
		Example: `  herald dlq redrive orders.dlq --group orders-redrive
  herald dlq redrive orders.dlq --group orders-redrive --target orders-retry --limit 100`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if opts.Limit < 0 {
				return fmt.Errorf("invalid --limit %d: want 0 (no limit) or more", opts.Limit)
			}
			cl, err := c.client(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			topics := []string{args[0]}
			if opts.Target != "" {
				topics = append(topics, opts.Target)
			}
			if err := checkTopics(cmd.Context(), kadm.NewClient(cl), topics...); err != nil {
				return err
			}
			res, err := pubsub.Redrive(cmd.Context(), cl, args[0], opts)
			out := redriveResult{Topic: args[0], Redriven: res.Redriven, Skipped: res.Skipped}
			if perr := emit(cmd.OutOrStdout(), format, out, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "re-drove %d letters from %s, skipped %d\n", out.Redriven, out.Topic, out.Skipped)
				return err
			}); err == nil {
				err = perr
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Group, "group", "g", "", "consumer group that records how far the topic has been re-driven (required)")
	fl.StringVar(&opts.Target, "target", "", "topic to publish to (default: each letter's origin topic)")
	fl.IntVarP(&opts.Limit, "limit", "n", 0, "re-drive at most this many letters (0: no limit)")
	_ = cmd.MarkFlagRequired("group")
	addFormatFlag(cmd, &format)
	return cmd
}
