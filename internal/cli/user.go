package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"golang.org/x/term"
)

// userPasswordEnv gives `herald user create` the new user's password
// without a prompt or stdin.
const userPasswordEnv = "HERALD_USER_PASSWORD"

func newUserCmd() *cobra.Command {
	c := &conn{}
	cmd := &cobra.Command{
		Use:     "user",
		Aliases: []string{"users"},
		Short:   "Create, list and delete SASL/SCRAM users",
		Long: `Manage the cluster's SCRAM credentials (KIP-554: AlterUserScramCredentials and
DescribeUserScramCredentials), on Herald or any Kafka cluster. The broker
stores a salted hash of each password, never the password; list shows the
mechanisms and iteration counts only.`,
		Example: `  herald user create alice --mechanism SCRAM-SHA-512     # asks for the password
  printf '%s\n' "$PW" | herald user create alice --password-stdin
  herald user list
  herald user delete alice`,
	}
	addConnFlags(cmd, c, true)
	cmd.AddCommand(newUserCreateCmd(c), newUserListCmd(c), newUserDeleteCmd(c))
	return cmd
}

// scramMechanism parses a --mechanism value.
func scramMechanism(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(s) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, fmt.Errorf("invalid --mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", s)
}

func newUserCreateCmd(c *conn) *cobra.Command {
	var (
		mechanism, format string
		iterations        int32
		fromStdin         bool
	)
	cmd := &cobra.Command{
		Use:   "create USER",
		Short: "Create a SCRAM user, or set a user's password",
		Long: `Create a SCRAM user, or replace the password of an existing user for the
mechanism. The password comes from, in order: stdin's first line with
--password-stdin, the ` + userPasswordEnv + ` variable, or a prompt on the terminal
(asked twice). It is never echoed or printed.`,
		Example: `  herald user create alice --mechanism SCRAM-SHA-512
  printf '%s\n' "$PW" | herald user create alice --password-stdin --iterations 16384`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			mech, err := scramMechanism(mechanism)
			if err != nil {
				return err
			}
			if iterations < 4096 || iterations > 16384 {
				return fmt.Errorf("invalid --iterations %d: Kafka accepts 4096 to 16384", iterations)
			}
			pw, err := newPassword(cmd, args[0], fromStdin)
			if err != nil {
				return err
			}
			up := kadm.UpsertSCRAM{User: args[0], Mechanism: mech, Iterations: iterations, Password: pw}
			return c.batchAdmin(cmd, format, "user", "create user", func(ctx context.Context, adm *kadm.Client) ([]itemResult, error) {
				return alteredResults(adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{up}))
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&mechanism, "mechanism", "SCRAM-SHA-256", "SCRAM-SHA-256 or SCRAM-SHA-512")
	fl.Int32Var(&iterations, "iterations", 8192, "PBKDF2 iterations of the salted password (4096 to 16384)")
	fl.BoolVar(&fromStdin, "password-stdin", false, "read the password from stdin's first line")
	addFormatFlag(cmd, &format)
	return cmd
}

// newPassword is the new user's password from stdin, the environment or
// the terminal.
func newPassword(cmd *cobra.Command, user string, fromStdin bool) (string, error) {
	var pw string
	switch v, ok := os.LookupEnv(userPasswordEnv); {
	case fromStdin:
		line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	case ok:
		pw = v
	default:
		var err error
		if pw, err = promptNewPassword(cmd, user); err != nil {
			return "", err
		}
	}
	if pw == "" {
		return "", errors.New("empty password")
	}
	return pw, nil
}

// promptNewPassword asks for a password twice on the terminal.
func promptNewPassword(cmd *cobra.Command, user string) (string, error) {
	f, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no password: use --password-stdin, set " + userPasswordEnv + ", or run on a terminal to be asked")
	}
	read := func(prompt string) (string, error) {
		fmt.Fprint(cmd.ErrOrStderr(), prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		return string(b), err
	}
	pw, err := read("New password for " + user + ": ")
	if err != nil {
		return "", err
	}
	again, err := read("Again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the passwords differ")
	}
	return pw, nil
}

// alteredResults turns an AlterUserScramCredentials answer into results.
func alteredResults(resp kadm.AlteredUserSCRAMs, err error) ([]itemResult, error) {
	var rs []itemResult
	for _, r := range resp.Sorted() {
		rs = append(rs, itemResult{Name: r.User, Error: kafkaErr(r.Err, r.ErrMessage)})
	}
	return rs, err
}

// userCred is one row of `user list`: never a secret.
type userCred struct {
	User        string     `json:"user" yaml:"user"`
	Credentials []credInfo `json:"credentials" yaml:"credentials"`
	Error       string     `json:"error,omitempty" yaml:"error,omitempty"`
}

type credInfo struct {
	Mechanism  string `json:"mechanism" yaml:"mechanism"`
	Iterations int32  `json:"iterations" yaml:"iterations"`
}

func newUserListCmd(c *conn) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "list [USER...]",
		Short: "List SCRAM users with their mechanisms and iterations",
		Example: `  herald user list
  herald user list alice -o json`,
		RunE: func(cmd *cobra.Command, users []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			adm, err := c.admin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			described, err := adm.DescribeUserSCRAMs(cmd.Context(), users...)
			if err != nil {
				return fmt.Errorf("list users: %w", err)
			}
			return emitUsers(cmd.OutOrStdout(), format, described)
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

func emitUsers(w io.Writer, format string, described kadm.DescribedUserSCRAMs) error {
	list := []userCred{}
	var rows [][]string
	failed := 0
	for _, d := range described.Sorted() {
		u := userCred{User: d.User, Credentials: []credInfo{}, Error: kafkaErr(d.Err, d.ErrMessage)}
		if u.Error != "" {
			failed++
			rows = append(rows, []string{d.User, "-", "-", u.Error})
		}
		for _, ci := range d.CredInfos {
			u.Credentials = append(u.Credentials, credInfo{Mechanism: ci.Mechanism.String(), Iterations: ci.Iterations})
			rows = append(rows, []string{d.User, ci.Mechanism.String(), strconv.Itoa(int(ci.Iterations)), "OK"})
		}
		list = append(list, u)
	}
	err := emit(w, format, list, func(w io.Writer) error {
		return writeTable(w, []string{"USER", "MECHANISM", "ITERATIONS", "STATUS"}, rows)
	})
	if err == nil && failed > 0 {
		err = fmt.Errorf("%d of %d users failed", failed, len(list))
	}
	return err
}

func newUserDeleteCmd(c *conn) *cobra.Command {
	var mechanism, format string
	cmd := &cobra.Command{
		Use:   "delete USER...",
		Short: "Delete users' SCRAM credentials (all mechanisms unless --mechanism)",
		Example: `  herald user delete alice
  herald user delete alice --mechanism SCRAM-SHA-256`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, users []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			var only *kadm.ScramMechanism
			if mechanism != "" {
				m, err := scramMechanism(mechanism)
				if err != nil {
					return err
				}
				only = &m
			}
			return c.batchAdmin(cmd, format, "user", "delete users", func(ctx context.Context, adm *kadm.Client) ([]itemResult, error) {
				del, missing, err := userDeletions(ctx, adm, users, only)
				if err != nil {
					return nil, err
				}
				rs, err := []itemResult(nil), error(nil)
				if len(del) > 0 {
					rs, err = alteredResults(adm.AlterUserSCRAMs(ctx, del, nil))
				}
				return append(rs, missing...), err
			})
		},
	}
	cmd.Flags().StringVar(&mechanism, "mechanism", "", "delete only this mechanism's credential (SCRAM-SHA-256 or SCRAM-SHA-512)")
	addFormatFlag(cmd, &format)
	return cmd
}

// userDeletions lists the credentials to delete: the one of mechanism
// only, or each the user has. Users with none are results with an error.
func userDeletions(ctx context.Context, adm *kadm.Client, users []string, only *kadm.ScramMechanism) ([]kadm.DeleteSCRAM, []itemResult, error) {
	if only != nil {
		del := make([]kadm.DeleteSCRAM, len(users))
		for i, u := range users {
			del[i] = kadm.DeleteSCRAM{User: u, Mechanism: *only}
		}
		return del, nil, nil
	}
	described, err := adm.DescribeUserSCRAMs(ctx, users...)
	if err != nil {
		return nil, nil, err
	}
	var del []kadm.DeleteSCRAM
	var missing []itemResult
	for _, u := range users {
		d := described[u]
		if len(d.CredInfos) == 0 {
			missing = append(missing, itemResult{Name: u, Error: "no such user" + errSuffix(kafkaErr(d.Err, d.ErrMessage))})
		}
		for _, ci := range d.CredInfos {
			del = append(del, kadm.DeleteSCRAM{User: u, Mechanism: ci.Mechanism})
		}
	}
	return del, missing, nil
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}
