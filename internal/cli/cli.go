package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// AddCommands adds the operator commands to root.
func AddCommands(root *cobra.Command) {
	root.AddCommand(
		newTopicCmd(),
		newProduceCmd(),
		newConsumeCmd(),
		newGroupCmd(),
		newClusterCmd(),
		newDLQCmd(),
	)
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
