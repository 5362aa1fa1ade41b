package main

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/internal/metadata"
	"github.com/heraldhq/herald/internal/vfs"
)

func newRepairCmd() *cobra.Command {
	var execute bool
	cmd := &cobra.Command{
		Use:   "repair DATA_DIR",
		Short: "Rebuild a damaged metadata log from its snapshot and intact records",
		Long: `Check the data dir's metadata log (herald-metadata.log) and, when it is
damaged or missing, say how it can be rebuilt: from the checksummed snapshot
(herald-metadata.snapshot) plus every intact record written after it, or,
without a usable snapshot, from every intact record of the log. Topics whose
partition directories exist but that the rebuilt metadata lacks are
recreated with default configs.

Without --execute nothing is changed. With --execute the damaged log is
renamed to herald-metadata.log.damaged-<UTC time> (kept, never deleted) and a
new log and snapshot are written. The broker must be stopped: repair takes
the data dir's lock and refuses while a broker holds it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRepair(cmd.OutOrStdout(), args[0], execute)
		},
	}
	cmd.Flags().BoolVar(&execute, "execute", false, "carry out the repair (default: only report)")
	return cmd
}

func runRepair(w io.Writer, dir string, execute bool) error {
	rep, err := metadata.Repair(vfs.Default, dir, metadata.RepairOptions{Execute: execute})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Found:")
	for _, f := range rep.Findings {
		fmt.Fprintln(w, "  "+f)
	}
	if !rep.Needed {
		return nil
	}
	if rep.Executed {
		fmt.Fprintln(w, "Done:")
	} else {
		fmt.Fprintln(w, "Would:")
	}
	for _, a := range rep.Actions {
		fmt.Fprintln(w, "  "+a)
	}
	fmt.Fprintf(w, "Topics in the repaired metadata: %d\n", len(rep.State.Topics))
	for _, name := range slices.Sorted(maps.Keys(rep.State.Topics)) {
		fmt.Fprintf(w, "  %s (%d partitions)\n", name, rep.State.Topics[name].Partitions)
	}
	if !rep.Executed {
		fmt.Fprintf(w, "Nothing was changed. Run `herald repair --execute %s` to do this.\n", dir)
	}
	return nil
}
