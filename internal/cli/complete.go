package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// completionTimeout bounds a completion's trip to the broker: a shell
// waiting on Tab must not hang when no broker answers.
const completionTimeout = 3 * time.Second

// addCompletions makes shell completion (herald completion bash|zsh|fish)
// offer the broker's topic and group names: for every command under cmd
// whose arguments are topics (TOPIC, DLQ_TOPIC) or groups (GROUP), and
// for the --group and --target flags.
func addCompletions(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		addCompletions(c)
	}
	fields := strings.Fields(cmd.Use)
	if len(fields) > 1 && cmd.ValidArgsFunction == nil {
		arg := fields[1]
		many := strings.HasSuffix(arg, "...")
		switch strings.TrimSuffix(arg, "...") {
		case "TOPIC", "DLQ_TOPIC":
			cmd.ValidArgsFunction = completeNames(listTopicNames, many)
		case "GROUP":
			cmd.ValidArgsFunction = completeNames(listGroupNames, many)
		}
	}
	if cmd.Flags().Lookup("group") != nil {
		_ = cmd.RegisterFlagCompletionFunc("group", completeNames(listGroupNames, true))
	}
	if cmd.Flags().Lookup("target") != nil {
		_ = cmd.RegisterFlagCompletionFunc("target", completeNames(listTopicNames, true))
	}
}

// completeNames completes with the names list returns, minus those
// already on the command line; with many false, only the first argument
// (flags pass true: their value does not depend on the arguments).
func completeNames(list func(context.Context, *kadm.Client) ([]string, error), many bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if !many && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c := &conn{}
		if bs, err := cmd.Flags().GetStringSlice("brokers"); err == nil {
			c.brokers = bs
		}
		sec, err := securityConfig(cmd, false)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		secOpts, err := sec.Opts()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		cl, err := kgo.NewClient(append(secOpts, kgo.SeedBrokers(c.seeds(cmd)...), kgo.DialTimeout(completionTimeout),
			kgo.RetryTimeout(completionTimeout), kgo.SoftwareNameAndVersion(clientSoftwareName, "completion"))...)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
		defer cancel()
		names, err := list(ctx, kadm.NewClient(cl))
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		var out []string
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) && !slices.Contains(args, n) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func listTopicNames(ctx context.Context, adm *kadm.Client) ([]string, error) {
	tds, err := adm.ListTopics(ctx) // internal topics left out
	if err != nil {
		return nil, err
	}
	return tds.Names(), nil
}

func listGroupNames(ctx context.Context, adm *kadm.Client) ([]string, error) {
	gs, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	return gs.Groups(), nil
}
