package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// AddCommands adds the operator commands to root.
func AddCommands(root *cobra.Command) {
	cmds := []*cobra.Command{
		newTopicCmd(),
		newProduceCmd(),
		newConsumeCmd(),
		newGroupCmd(),
		newClusterCmd(),
		newDLQCmd(),
		newSagaCmd(),
		newProjectionCmd(),
		newACLCmd(),
		newUserCmd(),
		newQuotaCmd(),
	}
	for _, c := range cmds {
		rejectUnknownSubcommands(c)
		addCompletions(c)
	}
	root.AddCommand(cmds...)
}

// rejectUnknownSubcommands makes every noun under cmd (a command that
// only groups subcommands, such as topic) fail on an unknown verb with
// "unknown command" and cobra's suggestions, instead of printing help and
// exiting 0. A noun alone still prints its help. cobra does this for the
// root command only.
func rejectUnknownSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		rejectUnknownSubcommands(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's default, set only on its own path
		}
		if sug := cmd.SuggestionsFor(args[0]); len(sug) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", sug[0])
		}
		return fmt.Errorf("%s (see %s --help)", msg, cmd.CommandPath())
	}
}

// Run runs one `herald` command line with the given streams and returns
// its exit code: 0 on success, 1 on any error (printed to errOut as
// "herald: ..."). in may be nil for commands that read no input.
func Run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	root := &cobra.Command{
		Use:           "herald",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	AddCommands(root)
	root.SetArgs(args)
	if in != nil {
		root.SetIn(in)
	}
	root.SetOut(out)
	root.SetErr(errOut)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(errOut, "herald:", err)
		return 1
	}
	return 0
}
