package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Settings of the long-running commands (serve, registry) come from, in
// order of precedence: the command line, HERALD_* environment variables,
// the --config YAML file, and the defaults. The file's keys are the flag
// names (data-dir: /var/lib/herald), so every flag, including flags added
// later, is a key without further code.

// notSettings are flags that are not settings: they are neither read
// from the file nor printed by --print-config.
var notSettings = map[string]bool{"config": true, "print-config": true, "help": true}

// isSecret reports whether a setting holds a password: --print-config
// leaves it out (it may still be set in the file, better in the
// environment).
func isSecret(name string) bool { return strings.HasSuffix(name, "-password") }

// addConfigFlags registers --config and --print-config on cmd.
func addConfigFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.String("config", "", "YAML file of settings, one key per flag (data-dir: /var/lib/herald); flags and HERALD_* variables win")
	fl.Bool("print-config", false, "print the effective settings as a YAML config file and exit")
}

// loadSettings applies the environment, then the config file, to every
// flag not given on the command line. It reports whether --print-config
// asked for the settings instead of a run, having printed them to out.
func loadSettings(cmd *cobra.Command, lookup func(string) (string, bool), out io.Writer) (printed bool, err error) {
	fl := cmd.Flags()
	if err := applyEnv(fl, lookup); err != nil {
		return false, err
	}
	if path, _ := fl.GetString("config"); path != "" {
		if err := applyConfigFile(fl, path); err != nil {
			return false, err
		}
	}
	if p, _ := fl.GetBool("print-config"); p {
		return true, printConfig(fl, out)
	}
	return false, nil
}

// applyConfigFile sets every flag that is still unset from path.
func applyConfigFile(fl *pflag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var m map[string]yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		f := fl.Lookup(k)
		if f == nil || notSettings[k] {
			errs = append(errs, fmt.Errorf("config file %s: unknown key %q (the keys are the flag names of --help)", path, k))
			continue
		}
		if f.Changed {
			continue // the command line or the environment set it
		}
		node := m[k]
		v, err := nodeValue(&node)
		if err == nil {
			err = fl.Set(k, v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("config file %s: line %d: %s: %w", path, node.Line, k, err))
		}
	}
	return errors.Join(errs...)
}

// nodeValue is a YAML scalar's text, or a sequence of scalars joined by
// commas (for list flags such as brokers).
func nodeValue(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value, nil
	case yaml.SequenceNode:
		vs := make([]string, len(n.Content))
		for i, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return "", errors.New("want a list of plain values")
			}
			vs[i] = c.Value
		}
		return strings.Join(vs, ","), nil
	}
	return "", errors.New("want a value or a list of values")
}

// printConfig writes every setting's effective value as a config file.
func printConfig(fl *pflag.FlagSet, out io.Writer) error {
	root := &yaml.Node{Kind: yaml.MappingNode}
	var names []string
	fl.VisitAll(func(f *pflag.Flag) {
		if !notSettings[f.Name] && !isSecret(f.Name) {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	for _, name := range names {
		f := fl.Lookup(name)
		key := &yaml.Node{Kind: yaml.ScalarNode, Value: name, HeadComment: f.Usage}
		root.Content = append(root.Content, key, valueNode(f))
	}
	enc := yaml.NewEncoder(out)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return err
	}
	return enc.Close()
}

// valueNode is a flag's value as YAML of its type: lists as sequences,
// numbers and booleans plain, strings quoted when YAML needs it.
func valueNode(f *pflag.Flag) *yaml.Node {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, v := range sv.GetSlice() {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v})
		}
		return n
	}
	v := f.Value.String()
	tag := "!!str"
	switch t := f.Value.Type(); {
	case t == "bool":
		tag = "!!bool"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			tag = "!!int"
		}
	case strings.HasPrefix(t, "float"):
		tag = "!!float"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v}
}
