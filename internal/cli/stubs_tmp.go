package cli

import "github.com/spf13/cobra"

func newClusterCmd() *cobra.Command { return &cobra.Command{Use: "cluster", Hidden: true} }
func newDLQCmd() *cobra.Command     { return &cobra.Command{Use: "dlq", Hidden: true} }
