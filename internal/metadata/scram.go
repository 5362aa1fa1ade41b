package metadata

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
)

// SCRAM credential records (KIP-554). Part of the file format; do not
// change.
const (
	SetScram    = "set_scram"    // Scram: adds or replaces one user's credential for one mechanism
	DeleteScram = "delete_scram" // Scram (User and Mechanism only)
)

// Scram is one user's salted credential for one SCRAM mechanism, as RFC
// 5802 has the server keep it: never the password, only what verifies a
// proof of it.
//
//	SaltedPassword = PBKDF2(HMAC-H, password, Salt, Iterations)
//	StoredKey      = H(HMAC(SaltedPassword, "Client Key"))
//	ServerKey      = HMAC(SaltedPassword, "Server Key")
//
// In the log (JSON) the byte fields are base64.
type Scram struct {
	User       string `json:"user"`
	Mechanism  string `json:"mechanism"` // "SCRAM-SHA-256" or "SCRAM-SHA-512"
	Salt       []byte `json:"salt,omitempty"`
	Iterations int32  `json:"iterations,omitempty"`
	StoredKey  []byte `json:"stored_key,omitempty"`
	ServerKey  []byte `json:"server_key,omitempty"`
}

// ScramKey names one credential: a user and a mechanism.
type ScramKey struct{ User, Mechanism string }

// applyScram applies a SCRAM record; ok is false for other records.
func (s *State) applyScram(r Record) (ok bool, err error) {
	if r.Type != SetScram && r.Type != DeleteScram {
		return false, nil
	}
	if r.Scram == nil {
		return true, fmt.Errorf("metadata record %q without its credential", r.Type)
	}
	if s.Scram == nil {
		s.Scram = make(map[ScramKey]Scram)
	}
	k := ScramKey{r.Scram.User, r.Scram.Mechanism}
	if r.Type == DeleteScram {
		delete(s.Scram, k)
		return true, nil
	}
	s.Scram[k] = *r.Scram
	return true, nil
}

// scramSorted is every credential by user, then mechanism.
func (s *State) scramSorted() []Scram {
	out := make([]Scram, 0, len(s.Scram))
	for _, c := range s.Scram {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Scram) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Mechanism, b.Mechanism))
	})
	return out
}

func scramEqual(a, b map[ScramKey]Scram) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || x.Iterations != y.Iterations || !bytes.Equal(x.Salt, y.Salt) ||
			!bytes.Equal(x.StoredKey, y.StoredKey) || !bytes.Equal(x.ServerKey, y.ServerKey) {
			return false
		}
	}
	return true
}
