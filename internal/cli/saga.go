package cli

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/spf13/cobra"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/heraldhq/herald/saga"
)

// sagaDB is where the sagas are: a SQLite file or a PostgreSQL URL.
type sagaDB struct {
	dsn, prefix string
}

func newSagaCmd() *cobra.Command {
	d := &sagaDB{}
	cmd := &cobra.Command{
		Use:   "saga",
		Short: "Inspect and operate sagas kept by the saga SDK in SQLite or PostgreSQL",
		Example: `  herald saga list --db orders.db --state stuck
  herald saga show order-42 --db postgres://app@db/app -o json
  herald saga retry order-42 --db orders.db`,
	}
	fl := cmd.PersistentFlags()
	fl.StringVar(&d.dsn, "db", "", "the sagas' database: a SQLite file, or a postgres:// URL (required)")
	fl.StringVar(&d.prefix, "prefix", "herald_saga", "prefix of the saga tables")
	_ = cmd.MarkPersistentFlagRequired("db")
	cmd.AddCommand(newSagaListCmd(d), newSagaShowCmd(d), newSagaRequestCmd(d, "retry"), newSagaRequestCmd(d, "abort"))
	return cmd
}

// open opens the store without an outbox: it reads, and files requests.
func (d *sagaDB) open(ctx context.Context) (*saga.Store, func(), error) {
	db, postgres, err := openSQL("saga database", d.dsn)
	if err != nil {
		return nil, nil, err
	}
	dialect := saga.SQLite
	if postgres {
		dialect = saga.Postgres
	}
	st, err := saga.NewStore(ctx, db, nil, saga.StoreConfig{Dialect: dialect, Prefix: d.prefix})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return st, func() { db.Close() }, nil
}

// openSQL opens the database a --db flag names: a postgres:// (or
// postgresql://) URL, or a SQLite file, PATH or sqlite:PATH, which must
// exist (the operator's commands never make a new one by mistake).
// postgres tells which; what names the database in errors.
func openSQL(what, dsn string) (db *sql.DB, postgres bool, err error) {
	driver := "sqlite"
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		driver, postgres = "pgx", true
	} else {
		path := strings.TrimPrefix(dsn, "sqlite:")
		if _, err := os.Stat(path); err != nil {
			return nil, false, fmt.Errorf("%s: %w", what, err)
		}
		dsn = "file:" + path + "?_pragma=busy_timeout(10000)"
	}
	if db, err = sql.Open(driver, dsn); err != nil {
		return nil, false, fmt.Errorf("%s: %w", what, err)
	}
	return db, postgres, nil
}

// sagaInstance is an instance as the commands print it.
type sagaInstance struct {
	ID      string `json:"id" yaml:"id"`
	Type    string `json:"type" yaml:"type"`
	State   string `json:"state" yaml:"state"`
	Step    int    `json:"step" yaml:"step"`
	Attempt int    `json:"attempt" yaml:"attempt"`
	// AttemptBase: the attempts before the current retry budget (set by
	// an operator's retry).
	AttemptBase int            `json:"attempt_base,omitempty" yaml:"attempt_base,omitempty"`
	Error       string         `json:"error,omitempty" yaml:"error,omitempty"`
	Due         string         `json:"due,omitempty" yaml:"due,omitempty"`
	Created     string         `json:"created" yaml:"created"`
	Updated     string         `json:"updated,omitempty" yaml:"updated,omitempty"`
	Version     int64          `json:"version" yaml:"version"`
	Data        map[string]any `json:"data,omitempty" yaml:"data,omitempty"`
	History     []sagaEntry    `json:"history,omitempty" yaml:"history,omitempty"`
}

type sagaEntry struct {
	At      string   `json:"at" yaml:"at"`
	Input   string   `json:"input" yaml:"input"`
	EventID string   `json:"event_id,omitempty" yaml:"event_id,omitempty"`
	State   string   `json:"state" yaml:"state"`
	Step    int      `json:"step" yaml:"step"`
	Version int64    `json:"version" yaml:"version"`
	Note    string   `json:"note" yaml:"note"`
	Sent    []string `json:"sent,omitempty" yaml:"sent,omitempty"`
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func toSagaInstance(in saga.Instance) sagaInstance {
	return sagaInstance{ID: in.ID, Type: in.Type, State: string(in.Status), Step: in.Step, Attempt: in.Attempt, AttemptBase: in.AttemptBase,
		Error: in.Error, Due: stamp(in.Due()), Created: stamp(in.Created), Updated: stamp(in.Updated), Version: in.Version}
}

func newSagaListCmd(d *sagaDB) *cobra.Command {
	var (
		f      saga.Filter
		state  string
		format string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List saga instances, newest first",
		Example: `  herald saga list --db orders.db
  herald saga list --db postgres://app@db/app --state stuck --type order -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			switch saga.Status(state) {
			case "", saga.Running, saga.Compensating, saga.Done, saga.Compensated, saga.Stuck:
				f.Status = saga.Status(state)
			default:
				return fmt.Errorf("unknown --state %q: want running, compensating, done, compensated or stuck", state)
			}
			st, closeDB, err := d.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			ins, err := st.List(cmd.Context(), f)
			if err != nil {
				return err
			}
			out := make([]sagaInstance, 0, len(ins))
			rows := make([][]string, 0, len(ins))
			for _, in := range ins {
				out = append(out, toSagaInstance(in))
				rows = append(rows, []string{in.ID, in.Type, string(in.Status), strconv.Itoa(in.Step), in.Error})
			}
			return emit(cmd.OutOrStdout(), format, out, func(w io.Writer) error {
				return writeTable(w, []string{"ID", "TYPE", "STATE", "STEP", "ERROR"}, rows)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&state, "state", "", "only instances in this state: running, compensating, done, compensated, stuck")
	fl.StringVar(&f.Type, "type", "", "only instances of this saga type")
	fl.IntVarP(&f.Limit, "limit", "n", 100, "at most this many instances")
	addFormatFlag(cmd, &format)
	return cmd
}

func newSagaShowCmd(d *sagaDB) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "show ID",
		Example: `  herald saga show order-42 --db orders.db -o json`,
		Short:   "Show a saga instance: state, data, and its history (inputs, notes, commands sent)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			st, closeDB, err := d.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			out, err := showSaga(cmd.Context(), st, args[0])
			if err != nil {
				return err
			}
			return emit(cmd.OutOrStdout(), format, out, func(w io.Writer) error { return writeSaga(w, out) })
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

func showSaga(ctx context.Context, st *saga.Store, id string) (sagaInstance, error) {
	in, err := st.Get(ctx, id)
	if err != nil {
		return sagaInstance{}, err
	}
	h, err := st.History(ctx, id)
	if err != nil {
		return sagaInstance{}, err
	}
	out := toSagaInstance(in)
	out.Data = map[string]any{}
	for k, v := range in.Data {
		out.Data[k] = string(v)
	}
	for _, e := range h {
		out.History = append(out.History, sagaEntry{At: stamp(e.At), Input: e.Input, EventID: e.EventID,
			State: string(e.Status), Step: e.Step, Version: e.Version, Note: e.Note, Sent: e.Sent})
	}
	return out, nil
}

func writeSaga(w io.Writer, s sagaInstance) error {
	if _, err := fmt.Fprintf(w, "%s (%s): %s, step %d attempt %d, version %d\n", s.ID, s.Type, s.State, s.Step, s.Attempt, s.Version); err != nil {
		return err
	}
	if s.Error != "" {
		fmt.Fprintf(w, "error: %s\n", s.Error)
	}
	if s.Due != "" {
		fmt.Fprintf(w, "timer: %s\n", s.Due)
	}
	rows := make([][]string, 0, len(s.History))
	for _, e := range s.History {
		rows = append(rows, []string{e.At, e.Input, e.State, strconv.Itoa(e.Step), e.Note, strings.Join(e.Sent, " ")})
	}
	return writeTable(w, []string{"AT", "INPUT", "STATE", "STEP", "NOTE", "SENT"}, rows)
}

func newSagaRequestCmd(d *sagaDB, kind string) *cobra.Command {
	var reason string
	short := "Ask the runners to run a stuck instance's failing compensation again, with a fresh retry budget"
	if kind == "abort" {
		short = "Ask the runners to stop a running instance and compensate its steps"
	}
	cmd := &cobra.Command{
		Use:     kind + " ID",
		Short:   short,
		Example: "  herald saga " + kind + " order-42 --db orders.db",
		Long: short + `. The request is stored in the
database; a runner of the instance's type carries it out within its poll
interval, and 'herald saga show' tells what it did.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, closeDB, err := d.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeDB()
			in, err := st.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var req saga.Input = saga.Retry{}
			switch {
			case kind == "abort" && in.Status != saga.Running:
				return fmt.Errorf("saga %s is %s: only a running saga can be aborted", in.ID, in.Status)
			case kind == "abort":
				req = saga.Abort{Reason: reason}
			case in.Status != saga.Stuck:
				return fmt.Errorf("saga %s is %s: only a stuck saga can be retried", in.ID, in.Status)
			}
			if err := st.Request(cmd.Context(), in.ID, req); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s of %s requested\n", kind, in.ID)
			return err
		},
	}
	if kind == "abort" {
		cmd.Flags().StringVar(&reason, "reason", "by operator", "why, kept in the instance's error")
	}
	return cmd
}
