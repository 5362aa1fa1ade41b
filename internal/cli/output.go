package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/heraldhq/herald/internal/buildinfo"
)

// The output formats of every listing. Human tables are the default;
// json and yaml carry the same data for scripts, with the same field
// names (each result struct has matching json and yaml tags).
const (
	formatText = "text"
	formatJSON = "json"
	formatYAML = "yaml"
)

// addFormatFlag registers --format on a listing command.
func addFormatFlag(cmd *cobra.Command, f *string) {
	cmd.Flags().StringVarP(f, "format", "o", formatText, "output format: text, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(
		[]string{formatText, formatJSON, formatYAML}, cobra.ShellCompDirectiveNoFileComp))
}

// checkFormat rejects an unknown --format before any request is sent.
func checkFormat(f string) error {
	switch f {
	case formatText, formatJSON, formatYAML:
		return nil
	}
	return fmt.Errorf("unknown --format %q: want text, json or yaml", f)
}

// emit writes v as json or yaml, or calls text for the human format.
func emit(w io.Writer, format string, v any, text func(io.Writer) error) error {
	switch format {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case formatYAML:
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		return enc.Close()
	}
	return text(w)
}

// writeTable writes an aligned table with an upper-case header row.
// Rows must already be in the order to show them (callers sort).
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// writeSection writes a titled table, used by the describe commands that
// show several tables one after another.
func writeSection(w io.Writer, title string, header []string, rows [][]string) error {
	fmt.Fprintf(w, "%s\n%s\n", title, strings.Repeat("=", len(title)))
	if err := writeTable(w, header, rows); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}

// errString is an error's text for a result row, "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// status is "OK" or the error's text, for per-item result tables.
func status(err error) string {
	if err == nil {
		return "OK"
	}
	return err.Error()
}

// PrintVersion writes a build's version in format (text, json or yaml),
// for `herald version`.
func PrintVersion(w io.Writer, format string, in buildinfo.Info) error {
	if err := checkFormat(format); err != nil {
		return err
	}
	return emit(w, format, in, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, in.String())
		return err
	})
}
