package crypt

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/scrypt"

	"github.com/heraldhq/herald/internal/vfs"
)

// The keyring file's layout (diagram in the package doc, "Keyring file").
// Part of the on-disk format; do not change.
const (
	fileMagic      = "HRLDKRNG"
	fileVersion    = 1
	kdfScrypt      = 1
	fileHeaderSize = 60
	maxFileSize    = 256 << 20
	maxScryptMem   = 1 << 30 // 128·r·N bytes
)

// wrapContext starts the associated data of a wrapped DEK: context ||
// uvarint(len(id)) || id || version (4 bytes, big-endian). Part of the
// wire format; do not change.
const wrapContext = "herald/event/crypt/keyring/v1"

// FileKeyring is the embedded Keyring: versioned AES-256 KEKs in one file
// protected by a passphrase (format above), written atomically (a
// temporary file, fsynced, renamed over the old, the directory fsynced).
// It implements Keyring, Shredder and Generationer.
//
// Keys are made on first Wrap of an id; Rotate adds a version; Shred
// erases an id's versions from the file and remembers it as shredded.
// Calls that write the file hold the keyring's lock through the fsync.
//
// Several processes may share the file: each call that needs a key
// rereads the file first if it changed on disk, and writers take an
// advisory lock (flock, on Unix) for their read-modify-write. Safe for
// concurrent use.
type FileKeyring struct {
	path string
	fs   vfs.FS // all file I/O but the flock; tests inject faults
	gen  atomic.Uint64

	mu struct {
		sync.Mutex
		key   []byte // derived from the passphrase
		hdr   [fileHeaderSize]byte
		state fileState
		stat  os.FileInfo // of the file as last read or written
	}
}

type fileState struct {
	Keys     map[string][]keyVersion `json:"keys"`
	Shredded map[string]time.Time    `json:"shredded"`
}

type keyVersion struct {
	V       uint32    `json:"v"`
	Key     []byte    `json:"k"`
	Created time.Time `json:"t"`
}

// ScryptParams are the cost of deriving the file's key: N = 2^LogN, r, p.
// The default, 2^15, 8, 1, takes 32 MiB and a tenth of a second or so
// (0.3 s in Example on a shared 2-core machine); Open pays it once.
type ScryptParams struct{ LogN, R, P uint8 }

// DefaultScrypt is the cost CreateFileKeyring uses by default.
var DefaultScrypt = ScryptParams{LogN: 15, R: 8, P: 1}

func (p ScryptParams) validate() error {
	if p.LogN < 10 || p.LogN > 22 || p.R < 1 || p.R > 32 || p.P < 1 || p.P > 16 ||
		128*uint64(p.R)<<p.LogN > maxScryptMem {
		return fmt.Errorf("crypt: scrypt parameters logN=%d r=%d p=%d out of range", p.LogN, p.R, p.P)
	}
	return nil
}

// CreateFileKeyring creates a new, empty keyring file at path (which must
// not exist), protected by passphrase with the given scrypt cost.
func CreateFileKeyring(path string, passphrase []byte, cost ScryptParams) (*FileKeyring, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("crypt: empty passphrase")
	}
	if err := cost.validate(); err != nil {
		return nil, err
	}
	return createFileKeyring(vfs.Default, path, passphrase, cost)
}

func createFileKeyring(fs vfs.FS, path string, passphrase []byte, cost ScryptParams) (*FileKeyring, error) {
	k := &FileKeyring{path: path, fs: fs}
	h := &k.mu.hdr
	copy(h[0:8], fileMagic)
	h[8], h[9], h[10], h[11], h[12] = fileVersion, kdfScrypt, cost.LogN, cost.R, cost.P
	if _, err := rand.Read(h[16:48]); err != nil {
		return nil, err
	}
	key, err := deriveKey(passphrase, h)
	if err != nil {
		return nil, err
	}
	k.mu.key = key
	k.mu.state = fileState{Keys: map[string][]keyVersion{}, Shredded: map[string]time.Time{}}
	unlock, err := lockFile(context.Background(), path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Checked under the lock: two processes creating one file, one wins.
	if _, err := fs.Stat(path); err == nil {
		return nil, fmt.Errorf("crypt: create keyring %s: %w", path, os.ErrExist)
	}
	if err := k.saveLocked(k.mu.state); err != nil {
		return nil, err
	}
	return k, nil
}

// OpenFileKeyring opens the keyring file at path. A wrong passphrase, or
// a file altered in any byte, is ErrPassphrase.
func OpenFileKeyring(path string, passphrase []byte) (*FileKeyring, error) {
	return openFileKeyring(vfs.Default, path, passphrase)
}

func openFileKeyring(fs vfs.FS, path string, passphrase []byte) (*FileKeyring, error) {
	b, fi, err := readFile(fs, path)
	if err != nil {
		return nil, err
	}
	hdr, err := parseHeader(b)
	if err != nil {
		return nil, fmt.Errorf("crypt: open keyring %s: %w", path, err)
	}
	key, err := deriveKey(passphrase, &hdr)
	if err != nil {
		return nil, err
	}
	st, err := openBody(key, b)
	if err != nil {
		return nil, fmt.Errorf("crypt: open keyring %s: %w", path, err)
	}
	k := &FileKeyring{path: path, fs: fs}
	k.mu.key, k.mu.hdr, k.mu.state, k.mu.stat = key, hdr, st, fi
	return k, nil
}

// parseHeader checks the clear header of a keyring file.
func parseHeader(b []byte) (hdr [fileHeaderSize]byte, err error) {
	if len(b) < fileHeaderSize+16 || string(b[0:8]) != fileMagic {
		return hdr, errors.New("not a keyring file")
	}
	copy(hdr[:], b)
	if hdr[8] != fileVersion || hdr[9] != kdfScrypt || hdr[13]|hdr[14]|hdr[15] != 0 {
		return hdr, fmt.Errorf("keyring format %d, KDF %d not supported", hdr[8], hdr[9])
	}
	return hdr, ScryptParams{hdr[10], hdr[11], hdr[12]}.validate()
}

func deriveKey(passphrase []byte, hdr *[fileHeaderSize]byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("crypt: empty passphrase")
	}
	k, err := scrypt.Key(passphrase, hdr[16:48], 1<<hdr[10], int(hdr[11]), int(hdr[12]), 32)
	if err != nil {
		return nil, fmt.Errorf("crypt: derive keyring key: %w", err)
	}
	return k, nil
}

// openBody decrypts and parses the body of a keyring file whose header
// has been checked.
func openBody(key, b []byte) (fileState, error) {
	aead, err := newGCM(key)
	if err != nil {
		return fileState{}, err
	}
	body, err := aead.Open(nil, b[48:60], b[fileHeaderSize:], b[:fileHeaderSize])
	if err != nil {
		return fileState{}, ErrPassphrase
	}
	var st fileState
	if err := json.Unmarshal(body, &st); err != nil {
		return fileState{}, fmt.Errorf("keyring body: %w", err)
	}
	if err := st.check(); err != nil {
		return fileState{}, err
	}
	return st, nil
}

// check reports a body that breaks the format's invariants.
func (st *fileState) check() error {
	if st.Keys == nil {
		st.Keys = map[string][]keyVersion{}
	}
	if st.Shredded == nil {
		st.Shredded = map[string]time.Time{}
	}
	for id, vs := range st.Keys {
		for i, v := range vs {
			if len(v.Key) != 32 || v.V == 0 || (i > 0 && v.V <= vs[i-1].V) {
				return fmt.Errorf("keyring body: key %q version %d malformed", id, v.V)
			}
		}
	}
	return nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Generation counts the keyring's changes that codecs must see (see
// Generationer): shreds and rotations, here or read from the file. A new
// key id alone does not count, so that codecs keep their caches while
// new subjects arrive.
func (k *FileKeyring) Generation() uint64 { return k.gen.Load() }

// Wrap wraps dek under the current version of id, making version 1 (and
// writing the file) if id has no key yet.
func (k *FileKeyring) Wrap(ctx context.Context, id string, dek []byte) (uint32, []byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.maybeReloadLocked(); err != nil {
		return 0, nil, err
	}
	vs, err := k.versionsLocked(id)
	if errors.Is(err, ErrKeyNotFound) {
		vs, err = k.addVersionLocked(ctx, id, true)
	}
	if err != nil {
		return 0, nil, err
	}
	cur := vs[len(vs)-1]
	w, err := wrapDEK(cur.Key, id, cur.V, dek)
	return cur.V, w, err
}

// Unwrap unwraps wrapped with version of id.
func (k *FileKeyring) Unwrap(_ context.Context, id string, version uint32, wrapped []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.maybeReloadLocked(); err != nil {
		return nil, err
	}
	vs, err := k.versionsLocked(id)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if v.V == version {
			return unwrapDEK(v.Key, id, version, wrapped)
		}
	}
	return nil, fmt.Errorf("%w: %q has no version %d", ErrKeyNotFound, id, version)
}

// Rotate adds a new version of id's key (version 1 if it has none) and
// returns it: data wrapped from now on uses it, data wrapped before
// still unwraps with its own version. Codecs of this process take the
// new version at once; others after their KeyTTL.
func (k *FileKeyring) Rotate(ctx context.Context, id string) (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.maybeReloadLocked(); err != nil {
		return 0, err
	}
	vs, err := k.addVersionLocked(ctx, id, false)
	if err != nil {
		return 0, err
	}
	return vs[len(vs)-1].V, nil
}

// Shred erases every version of id's key from the file, durably, and
// marks id shredded: Wrap and Unwrap of it are ErrShredded from then on.
// Shredding an id that has no key marks it all the same. Final: there is
// no undo. Copies of the file made before (backups) still hold the key.
func (k *FileKeyring) Shred(ctx context.Context, id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	unlock, err := lockFile(ctx, k.path)
	if err != nil {
		return err
	}
	defer unlock()
	if err := k.maybeReloadLocked(); err != nil {
		return err
	}
	st := k.mu.state.clone()
	old := st.Keys[id]
	delete(st.Keys, id)
	st.Shredded[shredID(id)] = time.Now().UTC().Truncate(time.Second)
	if err := k.saveLocked(st); err != nil {
		return err
	}
	for _, v := range old {
		clear(v.Key) // the in-memory copy, now that the file no longer has it
	}
	return nil
}

// ChangePassphrase re-encrypts the file under a new passphrase, with a
// new salt and the given scrypt cost; the keys are unchanged. Other
// processes that have the file open fail with ErrPassphrase until they
// reopen it with the new passphrase.
func (k *FileKeyring) ChangePassphrase(passphrase []byte, cost ScryptParams) error {
	if err := cost.validate(); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	unlock, err := lockFile(context.Background(), k.path)
	if err != nil {
		return err
	}
	defer unlock()
	if err := k.maybeReloadLocked(); err != nil {
		return err
	}
	oldHdr, oldKey := k.mu.hdr, k.mu.key
	h := &k.mu.hdr
	h[10], h[11], h[12] = cost.LogN, cost.R, cost.P
	if _, err := rand.Read(h[16:48]); err != nil {
		k.mu.hdr = oldHdr
		return err
	}
	if k.mu.key, err = deriveKey(passphrase, h); err == nil {
		err = k.saveLocked(k.mu.state)
	}
	if err != nil {
		k.mu.hdr, k.mu.key = oldHdr, oldKey
		return err
	}
	clear(oldKey)
	return nil
}

// Versions lists the versions id has, oldest first.
func (k *FileKeyring) Versions(id string) ([]uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.maybeReloadLocked(); err != nil {
		return nil, err
	}
	vs, err := k.versionsLocked(id)
	if err != nil {
		return nil, err
	}
	out := make([]uint32, len(vs))
	for i, v := range vs {
		out[i] = v.V
	}
	return out, nil
}

// versionsLocked returns id's versions, or ErrShredded or
// ErrKeyNotFound. mu must be held.
func (k *FileKeyring) versionsLocked(id string) ([]keyVersion, error) {
	if _, ok := k.mu.state.Shredded[shredID(id)]; ok {
		return nil, fmt.Errorf("%w: %q", ErrShredded, id)
	}
	vs := k.mu.state.Keys[id]
	if len(vs) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrKeyNotFound, id)
	}
	return vs, nil
}

// addVersionLocked adds a new key version to id and saves the file,
// under the file lock, rereading it first; if onlyFirst, only when id has
// none (another process may have made it meanwhile). mu must be held.
func (k *FileKeyring) addVersionLocked(ctx context.Context, id string, onlyFirst bool) ([]keyVersion, error) {
	unlock, err := lockFile(ctx, k.path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := k.maybeReloadLocked(); err != nil {
		return nil, err
	}
	if _, ok := k.mu.state.Shredded[shredID(id)]; ok {
		return nil, fmt.Errorf("%w: %q", ErrShredded, id)
	}
	if vs := k.mu.state.Keys[id]; onlyFirst && len(vs) > 0 {
		return vs, nil
	}
	st := k.mu.state.clone()
	kv := keyVersion{V: 1, Key: make([]byte, 32), Created: time.Now().UTC().Truncate(time.Second)}
	if vs := st.Keys[id]; len(vs) > 0 {
		kv.V = vs[len(vs)-1].V + 1
	}
	if _, err := rand.Read(kv.Key); err != nil {
		return nil, err
	}
	st.Keys[id] = append(st.Keys[id], kv)
	if err := k.saveLocked(st); err != nil {
		return nil, err
	}
	return st.Keys[id], nil
}

// clone copies the maps (the version slices are copied on append).
func (st fileState) clone() fileState {
	c := fileState{Keys: make(map[string][]keyVersion, len(st.Keys)+1), Shredded: make(map[string]time.Time, len(st.Shredded)+1)}
	for id, vs := range st.Keys {
		c.Keys[id] = vs[:len(vs):len(vs)]
	}
	for h, t := range st.Shredded {
		c.Shredded[h] = t
	}
	return c
}

func shredID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// maybeReloadLocked rereads the file if another process changed it since
// it was last read or written here. mu must be held.
func (k *FileKeyring) maybeReloadLocked() error {
	fi, err := k.fs.Stat(k.path)
	if err != nil {
		return fmt.Errorf("crypt: keyring: %w", err)
	}
	if k.mu.stat != nil && os.SameFile(fi, k.mu.stat) && fi.ModTime().Equal(k.mu.stat.ModTime()) && fi.Size() == k.mu.stat.Size() {
		return nil
	}
	b, fi, err := readFile(k.fs, k.path)
	if err != nil {
		return err
	}
	hdr, err := parseHeader(b)
	if err != nil {
		return fmt.Errorf("crypt: reload keyring %s: %w", k.path, err)
	}
	if [44]byte(hdr[:44]) != [44]byte(k.mu.hdr[:44]) {
		return fmt.Errorf("crypt: keyring %s: passphrase changed on disk; reopen with the new one: %w", k.path, ErrPassphrase)
	}
	st, err := openBody(k.mu.key, b)
	if err != nil {
		return fmt.Errorf("crypt: reload keyring %s: %w", k.path, err)
	}
	changed := !onlyAdded(k.mu.state, st)
	k.mu.hdr, k.mu.state, k.mu.stat = hdr, st, fi
	if changed {
		k.gen.Add(1)
	}
	return nil
}

// onlyAdded reports whether next differs from prev only by new key ids:
// no id shredded, removed or rotated. Codecs keep their caches then.
func onlyAdded(prev, next fileState) bool {
	if len(next.Shredded) != len(prev.Shredded) {
		return false
	}
	for id, vs := range prev.Keys {
		if len(next.Keys[id]) != len(vs) {
			return false
		}
	}
	return true
}

// saveLocked writes st as the new file, atomically and durably, and makes
// it the keyring's state. mu and the file lock must be held.
func (k *FileKeyring) saveLocked(st fileState) error {
	body, err := json.Marshal(st)
	if err != nil {
		return err
	}
	hdr := k.mu.hdr
	if _, err := rand.Read(hdr[48:60]); err != nil {
		return err
	}
	aead, err := newGCM(k.mu.key)
	if err != nil {
		return err
	}
	b := aead.Seal(hdr[:], hdr[48:60], body, hdr[:])
	clear(body)
	fi, err := writeAtomic(k.fs, k.path, b)
	if err != nil {
		return fmt.Errorf("crypt: save keyring %s: %w", k.path, err)
	}
	changed := !onlyAdded(k.mu.state, st)
	k.mu.hdr, k.mu.state, k.mu.stat = hdr, st, fi
	if changed {
		k.gen.Add(1)
	}
	return nil
}

// wrapDEK seals dek under kek: nonce || ciphertext || tag.
func wrapDEK(kek []byte, id string, version uint32, dek []byte) ([]byte, error) {
	aead, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, nonceSize, nonceSize+len(dek)+tagSize)
	if _, err := rand.Read(out); err != nil {
		return nil, err
	}
	return aead.Seal(out, out, dek, wrapAD(id, version)), nil
}

func unwrapDEK(kek []byte, id string, version uint32, wrapped []byte) ([]byte, error) {
	if len(wrapped) < nonceSize+tagSize {
		return nil, fmt.Errorf("%w: wrapped key of %d bytes", ErrDecrypt, len(wrapped))
	}
	aead, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	dek, err := aead.Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], wrapAD(id, version))
	if err != nil {
		return nil, fmt.Errorf("%w: wrapped key does not open under %q version %d", ErrDecrypt, id, version)
	}
	return dek, nil
}

func wrapAD(id string, version uint32) []byte {
	b := append([]byte(wrapContext), binary.AppendUvarint(nil, uint64(len(id)))...)
	b = append(b, id...)
	return binary.BigEndian.AppendUint32(b, version)
}
