package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/metadata"
)

// scramMechanism maps KIP-554's mechanism codes to names. Part of the
// wire format: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
func scramMechanism(code int8) (string, bool) {
	switch code {
	case 1:
		return auth.ScramSHA256, true
	case 2:
		return auth.ScramSHA512, true
	}
	return "", false
}

func scramMechanismCode(name string) int8 {
	switch name {
	case auth.ScramSHA256:
		return 1
	case auth.ScramSHA512:
		return 2
	}
	return 0
}

// handleAlterUserScramCredentials (key 51, KIP-554) adds, replaces and
// deletes users' SCRAM credentials. It needs ALTER on the cluster. The
// client salts the password (Salt, Iterations, SaltedPassword); the
// broker keeps StoredKey and ServerKey, durably in the metadata log, and
// the next authentication uses them. Each user gets one result: all of
// the user's changes are checked first (Kafka's rules and messages) and
// made only if every one passes.
func handleAlterUserScramCredentials(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	ops := map[string][]scramOp{}
	var order []string
	add := func(user string, op scramOp) {
		if _, ok := ops[user]; !ok {
			order = append(order, user)
		}
		ops[user] = append(ops[user], op)
	}
	for _, d := range req.Deletions {
		add(d.Name, scramOp{mech: d.Mechanism, del: true})
	}
	for _, u := range req.Upsertions {
		add(u.Name, scramOp{mech: u.Mechanism, iter: u.Iterations, salt: u.Salt, salted: u.SaltedPassword})
	}
	denied := s.accessCluster(r, access.Alter)
	for _, user := range order {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = user
		var err *kerr.Error
		var msg string
		switch {
		case denied != nil:
			err = denied
		case s.cfg.Credentials == nil:
			err, msg = kerr.UnsupportedSaslMechanism, "this broker keeps no SCRAM credentials"
		default:
			err, msg = s.alterScram(user, ops[user])
		}
		if err != nil {
			res.ErrorCode = err.Code
			if msg != "" {
				res.ErrorMessage = &msg
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// scramOp is one deletion or upsertion of AlterUserScramCredentials.
type scramOp struct {
	mech         int8
	del          bool
	iter         int32
	salt, salted []byte
}

// alterScram checks, then applies, one user's changes.
func (s *Server) alterScram(user string, ops []scramOp) (*kerr.Error, string) {
	if err, msg := checkScramOps(user, ops); err != nil {
		return err, msg
	}
	have := s.cfg.Credentials.Describe([]string{user})
	for _, op := range ops {
		mech, _ := scramMechanism(op.mech)
		if op.del && !hasMech(have, mech) {
			return kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist"
		}
	}
	for _, op := range ops {
		mech, _ := scramMechanism(op.mech)
		var err error
		if op.del {
			err = s.cfg.Credentials.Delete(user, mech)
		} else {
			err = s.cfg.Credentials.Set(credential(user, mech, op))
		}
		if errors.Is(err, auth.ErrNoCredential) {
			return kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist"
		}
		if err != nil {
			s.logger.Error("alter scram credentials", "user", user, "err", err)
			return kerr.KafkaStorageError, "the credential could not be stored"
		}
	}
	return nil, ""
}

func credential(user, mech string, op scramOp) metadata.Scram {
	c, _ := auth.CredentialFromSalted(user, mech, op.salt, op.iter, op.salted)
	return c
}

func hasMech(infos []auth.UserInfo, mech string) bool {
	for _, u := range infos {
		for _, c := range u.Credentials {
			if c.Mechanism == mech {
				return true
			}
		}
	}
	return false
}

// checkScramOps applies Kafka's rules to one user's changes.
func checkScramOps(user string, ops []scramOp) (*kerr.Error, string) {
	if user == "" {
		return kerr.UnacceptableCredential, "Username must not be empty"
	}
	seen := map[int8]bool{}
	for _, op := range ops {
		mech, ok := scramMechanism(op.mech)
		switch {
		case !ok:
			return kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism"
		case seen[op.mech]:
			return kerr.DuplicateResource, "A user credential cannot be altered twice in the same request"
		case op.del:
		case op.iter < auth.MinIterations:
			return kerr.UnacceptableCredential, "Too few iterations"
		case op.iter > auth.MaxIterations:
			return kerr.UnacceptableCredential, "Too many iterations"
		case len(op.salt) == 0:
			return kerr.UnacceptableCredential, "Salt must not be empty"
		default:
			if _, err := auth.CredentialFromSalted(user, mech, op.salt, op.iter, op.salted); err != nil {
				return kerr.UnacceptableCredential, err.Error()
			}
		}
		seen[op.mech] = true
	}
	return nil, ""
}
