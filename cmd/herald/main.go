// Command herald is Herald's one binary: `herald serve` runs the broker,
// `herald registry` the schema registry alone, `herald console` the web
// console alone, `herald version` (and
// --version) prints the build's version, and the operator commands come
// from internal/cli. serve and registry read their settings from flags,
// HERALD_* variables and a --config YAML file (config.go).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/internal/buildinfo"
	"github.com/heraldhq/herald/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs one command line and returns the exit code: 0, or 1 after
// printing "herald: <error>" to errOut.
func run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(errOut, "herald:", err)
		return 1
	}
	return 0
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "herald",
		Short:         "Herald: a durable event broker that speaks the Kafka protocol",
		Version:       buildinfo.Read().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version prints the same line as `herald version`.
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(newServeCmd(), newRegistryCmd(), newConsoleCmd(), newVersionCmd(), newRepairCmd(), newVerifyCmd())
	cli.AddCommands(root)
	return root
}

// newVersionCmd is `herald version`: the build's version, VCS revision,
// modified flag and Go version.
func newVersionCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print Herald's version, VCS revision and Go version",
		Example: `  herald version
  herald version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cli.PrintVersion(cmd.OutOrStdout(), format, buildinfo.Read())
		},
	}
	cmd.Flags().StringVarP(&format, "format", "o", "text", "output format: text, json or yaml")
	return cmd
}
