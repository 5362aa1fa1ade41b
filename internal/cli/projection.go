package cli

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/eventstore"
	espg "github.com/heraldhq/herald/eventstore/postgres"
	essqlite "github.com/heraldhq/herald/eventstore/sqlite"
	"github.com/heraldhq/herald/projection"
)

// projectionDB is where the projections' checkpoints and the event store
// are: one SQLite file or PostgreSQL database.
type projectionDB struct {
	dsn, table, events string
}

func newProjectionCmd() *cobra.Command {
	d := &projectionDB{}
	cmd := &cobra.Command{
		Use:   "projection",
		Short: "Inspect and rebuild the read models kept by the projection SDK in SQLite or PostgreSQL",
		Example: `  herald projection list --db orders.db
  herald projection rebuild order_totals --db postgres://app@db/app --wait`,
	}
	fl := cmd.PersistentFlags()
	fl.StringVar(&d.dsn, "db", "", "the projections' database: a SQLite file, or a postgres:// URL (required)")
	fl.StringVar(&d.table, "table", "herald_projections", "the checkpoint table (projection.Config.Table)")
	fl.StringVar(&d.events, "events", "herald_events", "the event store's table prefix, for the head position")
	_ = cmd.MarkPersistentFlagRequired("db")
	cmd.AddCommand(newProjectionListCmd(d), newProjectionRebuildCmd(d))
	return cmd
}

// open opens a runner with no projection registered: it reads the
// checkpoints and files rebuild requests, which the service's runners
// carry out.
func (d *projectionDB) open(ctx context.Context) (*projection.Runner, func(), error) {
	db, postgres, err := openSQL("projection database", d.dsn)
	if err != nil {
		return nil, nil, err
	}
	r, err := openProjections(ctx, db, postgres, d)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return r, func() { db.Close() }, nil
}

func openProjections(ctx context.Context, db *sql.DB, postgres bool, d *projectionDB) (*projection.Runner, error) {
	var store eventstore.Store
	var err error
	dialect := projection.SQLite
	if postgres {
		dialect = projection.Postgres
		store, err = espg.New(ctx, db, espg.Config{Prefix: d.events})
	} else {
		store, err = essqlite.New(ctx, db, essqlite.Config{Prefix: d.events})
	}
	if err != nil {
		return nil, err
	}
	return projection.New(ctx, db, dialect, store, projection.Config{Table: d.table})
}

// projectionRow is a projection as the commands print it.
type projectionRow struct {
	Name             string `json:"name" yaml:"name"`
	Table            string `json:"table" yaml:"table"`
	Position         int64  `json:"position" yaml:"position"`
	Head             int64  `json:"head" yaml:"head"`
	Lag              int64  `json:"lag" yaml:"lag"`
	Status           string `json:"status" yaml:"status"`
	Error            string `json:"error,omitempty" yaml:"error,omitempty"`
	ErrorPosition    int64  `json:"error_position,omitempty" yaml:"error_position,omitempty"`
	Skipped          int64  `json:"skipped" yaml:"skipped"`
	RebuildPosition  int64  `json:"rebuild_position,omitempty" yaml:"rebuild_position,omitempty"`
	RebuildLease     string `json:"rebuild_lease,omitempty" yaml:"rebuild_lease,omitempty"`
	RebuildRequested bool   `json:"rebuild_requested,omitempty" yaml:"rebuild_requested,omitempty"`
}

// The states list prints.
const (
	projRunning   = "running"
	projStopped   = "stopped"
	projRebuild   = "rebuilding"
	projStalled   = "rebuild-stalled" // the rebuild's lease expired: its runner died; another takes it over
	projRequested = "rebuild-requested"
)

func toProjectionRow(s projection.Status, now time.Time) projectionRow {
	row := projectionRow{Name: s.Name, Table: s.Table, Position: s.Position, Head: s.Head, Lag: s.Lag,
		Status: projRunning, Error: s.Error, Skipped: s.Skipped, RebuildRequested: s.RebuildRequested}
	switch {
	case s.Rebuilding && s.RebuildLease.Before(now):
		row.Status = projStalled
	case s.Rebuilding:
		row.Status = projRebuild
	case s.RebuildRequested:
		row.Status = projRequested
	case s.Stopped:
		row.Status = projStopped
	}
	if s.Stopped {
		row.ErrorPosition = s.ErrorAt
	}
	if s.Rebuilding {
		row.RebuildPosition, row.RebuildLease = s.RebuildPosition, stamp(s.RebuildLease)
	}
	return row
}

// note is the STATUS column's detail: the poisoned event or the rebuild's
// progress.
func (p projectionRow) note() string {
	switch {
	case p.Status == projRebuild || p.Status == projStalled:
		return "at " + strconv.FormatInt(p.RebuildPosition, 10) + " of " + strconv.FormatInt(p.Head, 10)
	case p.ErrorPosition > 0:
		return "at " + strconv.FormatInt(p.ErrorPosition, 10) + ": " + p.Error
	}
	return ""
}

func newProjectionListCmd(d *projectionDB) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List projections: position, the store's head, lag, and state (running, stopped at a poisoned event, rebuilding)",
		Example: `  herald projection list --db orders.db
  herald projection list --db postgres://app@db/app -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			r, closeDB, err := d.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			st, err := r.Status(cmd.Context())
			if err != nil {
				return err
			}
			out := make([]projectionRow, 0, len(st))
			rows := make([][]string, 0, len(st))
			now := time.Now()
			for _, s := range st {
				p := toProjectionRow(s, now)
				out = append(out, p)
				rows = append(rows, []string{p.Name, strconv.FormatInt(p.Position, 10), strconv.FormatInt(p.Head, 10),
					strconv.FormatInt(p.Lag, 10), p.Status, p.note()})
			}
			return emit(cmd.OutOrStdout(), format, out, func(w io.Writer) error {
				return writeTable(w, []string{"NAME", "POSITION", "HEAD", "LAG", "STATUS", "DETAIL"}, rows)
			})
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

func newProjectionRebuildCmd(d *projectionDB) *cobra.Command {
	var (
		wait    bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rebuild NAME",
		Short: "Ask the service's runners to rebuild a projection into a new table and switch readers to it",
		Long: `Ask the service's runners to rebuild a projection: replay every event into
a new table, then switch the projection's view to it; readers keep the old
table until the switch. The request is stored in the checkpoint table; a
runner (projection.Runner.Run) of the projection starts it within its poll
interval. A rebuild already under way is refused. With --wait the command
returns when the rebuild has switched (or failed: see the runner's log).`,
		Example: `  herald projection rebuild order_totals --db orders.db
  herald projection rebuild order_totals --db postgres://app@db/app --wait --timeout 30m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, closeDB, err := d.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			before, err := projectionStatus(cmd.Context(), r, args[0])
			if err != nil {
				return err
			}
			if err := r.RequestRebuild(cmd.Context(), args[0]); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if !wait {
				_, err = fmt.Fprintf(w, "rebuild of %s requested; a runner starts it within its poll interval\n", args[0])
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			after, err := waitRebuild(ctx, r, before)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(w, "%s rebuilt: readers now see %s, at position %d\n", args[0], after.Table, after.Position)
			return err
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the rebuild has switched readers to the new table")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "with --wait, give up waiting after this long")
	return cmd
}

func projectionStatus(ctx context.Context, r *projection.Runner, name string) (projection.Status, error) {
	st, err := r.Status(ctx)
	if err != nil {
		return projection.Status{}, err
	}
	for _, s := range st {
		if s.Name == name {
			return s, nil
		}
	}
	return projection.Status{}, fmt.Errorf("%w: %q", projection.ErrUnknown, name)
}

// waitRebuild polls until the rebuild requested from state before has
// switched tables (done) or ended without a switch (failed).
func waitRebuild(ctx context.Context, r *projection.Runner, before projection.Status) (projection.Status, error) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		s, err := projectionStatus(ctx, r, before.Name)
		switch {
		case err != nil:
			return s, err
		case s.RebuildRequested || s.Rebuilding:
		case s.Table != before.Table:
			return s, nil
		default:
			return s, fmt.Errorf("the rebuild of %s ended without switching tables: see the runner's log", before.Name)
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("waiting for the rebuild of %s: %w (it goes on in the runner)", before.Name, ctx.Err())
		case <-t.C:
		}
	}
}
