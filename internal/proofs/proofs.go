// Package proofs remembers, across jobs on one runner, which blobs were
// proven to be which layers: a blob digest either unpacks to a diff ID or
// it does not, so a fact proven once (by downloading, unpacking and
// hashing the blob) never goes stale, and a reused layer is proven once,
// ever, instead of once per job.
//
// The store is a file on a machine where a pull request's own programs
// may run as the same user, so it believes only what a holder of the
// job's key wrote: every entry carries an HMAC-SHA256 under a key derived
// (HKDF-SHA256, fixed label) from that key, and an entry without a valid
// MAC is ignored. A job without a key neither reads nor writes it. A
// missing, corrupt, foreign or full store is a cold start, never an
// error. Nothing in it is secret: digests, sizes, a media type and MACs.
package proofs

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	digest "github.com/opencontainers/go-digest"
)

// Fact is one proof: the blob Blob of media type MediaType and Size
// bytes unpacks to the layer DiffID of Unpacked bytes.
type Fact struct {
	Blob      digest.Digest
	MediaType string
	Size      int64
	DiffID    digest.Digest
	Unpacked  int64
}

// claim is what a fact is looked up by: all of it but what it unpacks to.
type claim struct {
	blob, diffID digest.Digest
	mediaType    string
	size         int64
}

func (f Fact) claim() claim {
	return claim{blob: f.Blob, diffID: f.DiffID, mediaType: f.MediaType, size: f.Size}
}

const (
	// MaxEntries bounds one key's file: past it, the oldest half is
	// dropped. An entry is about 300 bytes, so a file stays under about
	// 1.2 MiB, the facts of some 4000 layers.
	MaxEntries = 4096
	// maxBytes is the most of a file read: the newest entries of a larger
	// one (written by something else), so a file filled by another
	// process costs a cold start, not memory.
	maxBytes = MaxEntries * 320
	// maxFiles bounds the files of the directory (one per key: a rotated
	// key starts a new one); the least recently written go first.
	maxFiles = 8
	// version leads every entry and is in the key's label: a new format
	// is a cold start.
	version = "v1"
	suffix  = ".proofs"
	// noFollow: a symlink put in the store's place (by anything running
	// as the user) is not followed, so no other file is appended to.
	noFollow = syscall.O_NOFOLLOW
)

// Store is the facts proven by jobs holding one key, in one file of a
// directory. Its methods are safe for concurrent use; a nil Store
// remembers nothing.
type Store struct {
	dir, path string
	key       []byte
	mu        sync.Mutex
	hmac      hash.Hash
	loaded    bool
	facts     map[claim]int64
	// lines is how many entries the file held when read, valid or not:
	// past MaxEntries the next Remember rewrites it with the newest half.
	lines int
	order []Fact // the valid entries, oldest first
}

// MinSecret is the shortest key that opens a store. The file's name and
// its MACs are functions of the key that anyone who can read the store
// may test guesses against offline: a generated token (a zot API key,
// zak_ and 32 hex digits: 128 bits) is beyond guessing, a password is
// not, so a shorter key (a password rather than a token) opens none.
const MinSecret = 32

// Open returns the store of dir for jobs holding secret (the API key),
// nil (remembering nothing) when dir is empty or secret is shorter than
// MinSecret (none at all included). Nothing is read or written until it
// is used.
func Open(dir, secret string) *Store {
	if dir == "" || len(secret) < MinSecret {
		return nil
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "build-push-image proofs "+version+" mac", sha256.Size)
	if err != nil {
		return nil
	}
	name, err := hkdf.Key(sha256.New, []byte(secret), nil, "build-push-image proofs "+version+" file", 16)
	if err != nil {
		return nil
	}
	return &Store{dir: dir, path: filepath.Join(dir, hex.EncodeToString(name)+suffix), key: key}
}

// Dir is where a runner keeps the store: under RUNNER_TOOL_CACHE, which
// runners keep across jobs (act and forgejo-runner mount it as a volume
// into job containers), else $XDG_CACHE_HOME or ~/.cache; never
// RUNNER_TEMP, which is emptied after every job. "" when none is set.
func Dir(getenv func(string) string) string {
	const sub = "build-push-image/proofs"
	switch {
	case getenv("RUNNER_TOOL_CACHE") != "":
		return filepath.Join(getenv("RUNNER_TOOL_CACHE"), sub)
	case getenv("XDG_CACHE_HOME") != "":
		return filepath.Join(getenv("XDG_CACHE_HOME"), sub)
	case getenv("HOME") != "":
		return filepath.Join(getenv("HOME"), ".cache", sub)
	}
	return ""
}

// Recall returns how many bytes f's blob unpacks to when a job holding
// the key proved it to be f's layer (f.Unpacked is not looked at).
func (s *Store) Recall(f Fact) (int64, bool) {
	if s == nil {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	n, ok := s.facts[f.claim()]
	return n, ok
}

// Remember records a proven fact. A store that cannot be written is
// left as it is: the next job proves the layer again.
func (s *Store) Remember(f Fact) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	if _, ok := s.facts[f.claim()]; ok {
		return
	}
	s.facts[f.claim()] = f.Unpacked
	s.order = append(s.order, f)
	s.lines++
	if s.lines > MaxEntries {
		s.rewrite()
		return
	}
	_ = s.append(s.line(f))
}

// load reads the file once; whatever cannot be read is not there.
func (s *Store) load() {
	if s.loaded {
		return
	}
	s.loaded, s.facts = true, map[claim]int64{}
	f, err := os.OpenFile(s.path, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return
	}
	defer func() { _ = f.Close() }()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return
	} else if st.Size() > maxBytes {
		_, _ = f.Seek(st.Size()-maxBytes, io.SeekStart)
	}
	sc := bufio.NewScanner(io.LimitReader(f, maxBytes))
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		s.lines++
		if fact, ok := s.parse(sc.Bytes()); ok {
			if _, seen := s.facts[fact.claim()]; !seen {
				s.facts[fact.claim()] = fact.Unpacked
				s.order = append(s.order, fact)
			}
		}
	}
}

// body is an entry without its MAC.
func body(f Fact) string {
	return fmt.Sprintf("%s %s %s %d %s %d", version, f.Blob, f.MediaType, f.Size, f.DiffID, f.Unpacked)
}

// mac is body's MAC (under s.mu: the HMAC is made once and reset).
func (s *Store) mac(body string) []byte {
	if s.hmac == nil {
		s.hmac = hmac.New(sha256.New, s.key)
	}
	s.hmac.Reset()
	s.hmac.Write([]byte(body))
	return s.hmac.Sum(nil)
}

// line is f's entry: its body and its MAC, hex, on a line of its own.
// The newline leads: an entry after one left torn (a job killed while
// writing) still starts a line.
func (s *Store) line(f Fact) string {
	b := body(f)
	return "\n" + b + " " + hex.EncodeToString(s.mac(b))
}

// parse reads an entry, false for one that is malformed or whose MAC is
// not the key's (forged, corrupt, or another key's).
func (s *Store) parse(line []byte) (Fact, bool) {
	i := bytes.LastIndexByte(line, ' ')
	if i < 0 {
		return Fact{}, false
	}
	mac, err := hex.DecodeString(string(line[i+1:]))
	if err != nil || !hmac.Equal(mac, s.mac(string(line[:i]))) {
		return Fact{}, false
	}
	fields := strings.Fields(string(line[:i]))
	if len(fields) != 6 || fields[0] != version {
		return Fact{}, false
	}
	// Past its MAC an entry is one this key's holder wrote: its fields
	// are read as written (a digest is compared, never parsed).
	f := Fact{Blob: digest.Digest(fields[1]), MediaType: fields[2], DiffID: digest.Digest(fields[4])}
	var errs [2]error
	f.Size, errs[0] = strconv.ParseInt(fields[3], 10, 64)
	f.Unpacked, errs[1] = strconv.ParseInt(fields[5], 10, 64)
	return f, errs[0] == nil && errs[1] == nil
}

// append adds one entry at the end of the file (one write: entries of
// concurrent jobs do not interleave), making the directory and the file
// as needed.
func (s *Store) append(line string) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	_, err := os.Lstat(s.path)
	fresh := os.IsNotExist(err)
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|noFollow, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(line)
	if err := f.Close(); werr == nil {
		werr = err
	}
	if fresh {
		s.prune()
	}
	return werr
}

// rewrite replaces the file with its newest half (renamed into place:
// a reader sees the old file or the new one).
func (s *Store) rewrite() {
	keep := s.order[max(0, len(s.order)-MaxEntries/2):]
	var b strings.Builder
	for _, f := range keep {
		b.WriteString(s.line(f))
	}
	tmp, err := os.CreateTemp(s.dir, ".proofs-*")
	if err != nil {
		return
	}
	_, werr := tmp.WriteString(b.String())
	if err := tmp.Close(); werr != nil || err != nil {
		_ = os.Remove(tmp.Name())
		return
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		_ = os.Remove(tmp.Name())
		return
	}
	s.order, s.lines = keep, len(keep)
	s.facts = map[claim]int64{}
	for _, f := range keep {
		s.facts[f.claim()] = f.Unpacked
	}
}

// prune removes the least recently written files past maxFiles.
func (s *Store) prune() {
	files, err := filepath.Glob(filepath.Join(s.dir, "*"+suffix))
	if err != nil || len(files) <= maxFiles {
		return
	}
	type aged struct {
		path string
		mod  int64
	}
	var all []aged
	for _, p := range files {
		if st, err := os.Lstat(p); err == nil {
			all = append(all, aged{p, st.ModTime().UnixNano()})
		}
	}
	slices.SortFunc(all, func(a, b aged) int { return cmp.Compare(a.mod, b.mod) })
	for _, a := range all[:max(0, len(all)-maxFiles)] {
		if a.path != s.path {
			_ = os.Remove(a.path)
		}
	}
}
