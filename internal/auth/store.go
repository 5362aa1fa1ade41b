package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/metadata"
)

// ErrNoCredential is Delete's error when the user has no credential for
// the mechanism.
var ErrNoCredential = errors.New("no such SCRAM credential")

// Store is the users' SCRAM credentials: read by every SASL exchange,
// changed by AlterUserScramCredentials, kept in the metadata log. It is
// safe for concurrent use. A change is written (and fsynced) to the log
// before it is visible, and takes effect for the next authentication.
type Store struct {
	// persist appends a record to the metadata log; nil keeps the
	// store in memory (tests).
	persist func(metadata.Record) error
	// secret keys the decoy credentials of unknown users.
	secret []byte

	// writeMu orders changes: the log's order is the map's. It is held
	// across persist (an fsync); readers never take it.
	writeMu sync.Mutex
	mu      struct {
		sync.RWMutex
		creds map[metadata.ScramKey]metadata.Scram
	}
}

// NewStore returns a store holding initial (the replayed metadata state)
// and writing changes through persist.
func NewStore(initial map[metadata.ScramKey]metadata.Scram, persist func(metadata.Record) error) *Store {
	s := &Store{persist: persist, secret: make([]byte, 32)}
	rand.Read(s.secret)
	s.mu.creds = make(map[metadata.ScramKey]metadata.Scram, len(initial))
	for k, c := range initial {
		s.mu.creds[k] = c
	}
	return s
}

func (s *Store) lookup(user, mech string) (metadata.Scram, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.mu.creds[metadata.ScramKey{User: user, Mechanism: mech}]
	return c, ok
}

// decoy is a made-up credential for an unknown user, the same on every
// attempt, so that a SCRAM exchange for a user that does not exist looks
// like one with a wrong password.
func (s *Store) decoy(user, mech string) metadata.Scram {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(mech + "\x00" + user))
	salt := m.Sum(nil)
	h, _ := scramHashOf(mech)
	stored, server := keys(h, salt)
	return metadata.Scram{User: user, Mechanism: mech, Salt: salt, Iterations: MinIterations, StoredKey: stored, ServerKey: server}
}

// Set adds or replaces c (c.User's credential for c.Mechanism).
func (s *Store) Set(c metadata.Scram) error {
	if _, ok := scramHashOf(c.Mechanism); !ok {
		return fmt.Errorf("not a SCRAM mechanism: %q", c.Mechanism)
	}
	return s.change(metadata.Record{Type: metadata.SetScram, Scram: &c})
}

// Delete removes user's credential for mech; ErrNoCredential when there
// is none.
func (s *Store) Delete(user, mech string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if _, ok := s.lookup(user, mech); !ok {
		return ErrNoCredential
	}
	return s.changeLocked(metadata.Record{Type: metadata.DeleteScram, Scram: &metadata.Scram{User: user, Mechanism: mech}})
}

func (s *Store) change(r metadata.Record) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.changeLocked(r)
}

// changeLocked persists r, then applies it. writeMu must be held.
func (s *Store) changeLocked(r metadata.Record) error {
	if s.persist != nil {
		if err := s.persist(r); err != nil {
			return err
		}
	}
	k := metadata.ScramKey{User: r.Scram.User, Mechanism: r.Scram.Mechanism}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Type == metadata.DeleteScram {
		delete(s.mu.creds, k)
	} else {
		s.mu.creds[k] = *r.Scram
	}
	return nil
}

// UserInfo is one user's credentials as DescribeUserScramCredentials
// shows them: mechanisms and iterations, nothing secret.
type UserInfo struct {
	User        string
	Credentials []CredentialInfo
}

// CredentialInfo is one credential's public part.
type CredentialInfo struct {
	Mechanism  string
	Iterations int32
}

// Describe returns users' credentials, every user's for nil, sorted by
// user and mechanism; a user without credentials is left out.
func (s *Store) Describe(users []string) []UserInfo {
	s.mu.RLock()
	byUser := map[string][]CredentialInfo{}
	for k, c := range s.mu.creds {
		if users == nil || slices.Contains(users, k.User) {
			byUser[k.User] = append(byUser[k.User], CredentialInfo{Mechanism: k.Mechanism, Iterations: c.Iterations})
		}
	}
	s.mu.RUnlock()
	out := make([]UserInfo, 0, len(byUser))
	for u, cs := range byUser {
		slices.SortFunc(cs, func(a, b CredentialInfo) int { return strings.Compare(a.Mechanism, b.Mechanism) })
		out = append(out, UserInfo{User: u, Credentials: cs})
	}
	slices.SortFunc(out, func(a, b UserInfo) int { return strings.Compare(a.User, b.User) })
	return out
}

// Verify checks user's password against the user's SCRAM credential
// (SCRAM-SHA-512 when it has one, else SCRAM-SHA-256): the password is
// salted and hashed with the credential's salt and iterations and the
// StoredKeys compared in constant time. It returns the principal
// User:<user>, or an ErrFailed error that does not say whether the user
// exists. PLAIN authenticates with it; the registry and console's basic
// auth can too. It costs one PBKDF2 derivation (milliseconds).
func (s *Store) Verify(user, password string) (access.Principal, error) {
	c, ok := s.lookup(user, ScramSHA512)
	if !ok {
		c, ok = s.lookup(user, ScramSHA256)
	}
	if !ok {
		c = s.decoy(user, ScramSHA512) // spend the same time
	}
	if !checkPassword(c, password) || !ok {
		return access.Principal{}, failed("invalid username or password")
	}
	return access.Principal{Type: "User", Name: user}, nil
}

// Bootstrap creates user's SCRAM-SHA-256 and SCRAM-SHA-512 credentials
// from password when the user has none: the first user of a fresh
// secured broker. It reports whether it created them.
func (s *Store) Bootstrap(user, password string) (bool, error) {
	if user == "" || password == "" {
		return false, errors.New("bootstrap user: a user name and a password are required")
	}
	if len(s.Describe([]string{user})) > 0 {
		return false, nil
	}
	for _, m := range []string{ScramSHA256, ScramSHA512} {
		c, err := NewCredential(user, m, password, DefaultIterations)
		if err != nil {
			return false, err
		}
		if err := s.Set(c); err != nil {
			return false, fmt.Errorf("bootstrap user %s: %w", user, err)
		}
	}
	return true, nil
}
