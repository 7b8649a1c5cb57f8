package proofs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/blumeops/build-push-image/internal/testcheck"
)

// key and other are made-up keys of zot's shape, new each run.
var key, other = testcheck.ZotKey(), testcheck.ZotKey()

func fact(i int) Fact {
	return Fact{
		Blob:      digest.FromString(fmt.Sprintf("blob %d", i)),
		MediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
		Size:      int64(1000 + i),
		DiffID:    digest.FromString(fmt.Sprintf("layer %d", i)),
		Unpacked:  int64(5000 + i),
	}
}

// file is the one store file of dir.
func file(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if len(files) != 1 {
		t.Fatalf("store files: %v, want one", files)
	}
	return files[0]
}

// TestRemembered: a fact remembered by one job is recalled by the next
// holding the same key, with its unpacked size; another claim about the
// same blob is not.
func TestRemembered(t *testing.T) {
	dir := t.TempDir()
	Open(dir, key).Remember(fact(1))
	s := Open(dir, key)
	if n, ok := s.Recall(fact(1)); !ok || n != 5001 {
		t.Fatalf("Recall = %d, %v; want 5001, true", n, ok)
	}
	other := fact(1)
	other.DiffID = fact(2).DiffID
	if _, ok := s.Recall(other); ok {
		t.Error("a claim of another diff ID for the same blob was recalled")
	}
	if st, err := os.Stat(file(t, dir)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("store file: %v, %v; want mode 0600", st, err)
	}
	body, _ := os.ReadFile(file(t, dir))
	if strings.Contains(string(body), key) {
		t.Error("the store holds the key")
	}
}

// TestForged: an entry written without the key (by a pull request's
// program running as the same user) is not believed; nor one whose
// fields were changed under a valid MAC.
func TestForged(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir, key)
	s.Remember(fact(1))
	path := file(t, dir)
	forged := body(fact(2)) + " " + strings.Repeat("ab", 32) + "\n"
	good, _ := os.ReadFile(path)
	changed := strings.Replace(string(good), fmt.Sprint(fact(1).Unpacked), "1", 1)
	if err := os.WriteFile(path, []byte(changed+forged), 0o600); err != nil {
		t.Fatal(err)
	}
	s = Open(dir, key)
	for i := range 3 {
		if _, ok := s.Recall(fact(i)); ok {
			t.Errorf("fact %d recalled from a forged or altered entry", i)
		}
	}
}

// TestForeignKey: another key's store is another file, and its entries,
// copied into this key's file, are ignored.
func TestForeignKey(t *testing.T) {
	dir := t.TempDir()
	Open(dir, other).Remember(fact(1))
	foreign, _ := os.ReadFile(file(t, dir))
	mine := Open(dir, key)
	if _, ok := mine.Recall(fact(1)); ok {
		t.Fatal("a fact of another key was recalled")
	}
	if err := os.WriteFile(mine.path, foreign, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := Open(dir, key).Recall(fact(1)); ok {
		t.Error("another key's entry, copied into this key's file, was recalled")
	}
}

// TestNoKey: a job without a key, or with a password-like short one,
// neither reads nor writes the store.
func TestNoKey(t *testing.T) {
	dir := t.TempDir()
	Open(dir, key).Remember(fact(1))
	for _, weak := range []string{"", "hunter2", key[:MinSecret-1]} {
		s := Open(dir, weak)
		if _, ok := s.Recall(fact(1)); ok {
			t.Errorf("a job with key %q recalled a fact", weak)
		}
		s.Remember(fact(2))
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*"+suffix)); len(files) != 1 {
		t.Errorf("store files %v, want only the first job's", files)
	}
	if Open("", key) != nil {
		t.Error("a store without a directory")
	}
}

// TestCorrupt: garbage, a truncated entry, a directory or a symlink where
// the file should be are a cold start; what can be read still counts.
func TestCorrupt(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir, key)
	s.Remember(fact(1))
	path := file(t, dir)
	good, _ := os.ReadFile(path)
	junk := "\x00\xff garbage\n" + string(good[:len(good)/2]) + "\n" + string(good) + string(good[:40])
	if err := os.WriteFile(path, []byte(junk), 0o600); err != nil {
		t.Fatal(err)
	}
	s = Open(dir, key)
	if _, ok := s.Recall(fact(1)); !ok {
		t.Error("the valid entry among garbage was not recalled")
	}
	s.Remember(fact(2))
	if _, ok := Open(dir, key).Recall(fact(2)); !ok {
		t.Error("a fact remembered after garbage was not recalled")
	}

	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("keep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(path)
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	s = Open(dir, key)
	s.Remember(fact(3))
	if b, _ := os.ReadFile(target); string(b) != "keep\n" {
		t.Errorf("the store wrote through a symlink: %q", b)
	}
	if _, ok := s.Recall(fact(3)); !ok {
		t.Error("a fact not remembered within the job")
	}

	blocked := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s = Open(filepath.Join(blocked, "proofs"), key) // cannot be made: a cold start, no panic
	s.Remember(fact(1))
	if _, ok := Open(filepath.Join(blocked, "proofs"), key).Recall(fact(1)); ok {
		t.Error("recalled from a store that could not be written")
	}
}

// TestFull: past MaxEntries the oldest half is dropped and the file stays
// bounded; a huge file written by something else costs a cold start.
func TestFull(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir, key)
	for i := range MaxEntries + 1 {
		s.Remember(fact(i))
	}
	st, err := os.Stat(file(t, dir))
	if err != nil || st.Size() > maxBytes {
		t.Fatalf("full store: %v, %v; want at most %d bytes", st, err, maxBytes)
	}
	again := Open(dir, key)
	if _, ok := again.Recall(fact(0)); ok {
		t.Error("the oldest fact survived a full store")
	}
	if _, ok := again.Recall(fact(MaxEntries)); !ok {
		t.Error("the newest fact was dropped")
	}
	if _, ok := again.Recall(fact(MaxEntries/2 + 10)); !ok {
		t.Error("a fact of the newest half was dropped")
	}

	huge := strings.Repeat(strings.Repeat("x", 300)+"\n", 3*MaxEntries)
	if err := os.WriteFile(file(t, dir), []byte(huge+Open(dir, key).line(fact(7))), 0o600); err != nil {
		t.Fatal(err)
	}
	s = Open(dir, key)
	if _, ok := s.Recall(fact(7)); !ok {
		t.Error("the newest entry at the end of a huge file was not read")
	}
	s.Remember(fact(8))
	if st, _ := os.Stat(file(t, dir)); st.Size() > maxBytes {
		t.Errorf("a huge file was not rewritten: %d bytes", st.Size())
	}
	if _, ok := Open(dir, key).Recall(fact(8)); !ok {
		t.Error("a fact remembered into a full file was lost")
	}
}

// TestFiles: one file per key, at most maxFiles of them.
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for i := range maxFiles + 3 {
		Open(dir, fmt.Sprintf("zak_%032d", i)).Remember(fact(i))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if len(files) > maxFiles {
		t.Errorf("%d store files, want at most %d", len(files), maxFiles)
	}
	if _, ok := Open(dir, fmt.Sprintf("zak_%032d", maxFiles+2)).Recall(fact(maxFiles + 2)); !ok {
		t.Error("the newest key's file was pruned")
	}
}

// TestDir: the runner's tool cache first, never RUNNER_TEMP.
func TestDir(t *testing.T) {
	env := map[string]string{"RUNNER_TEMP": "/tmp/job", "HOME": "/home/u", "XDG_CACHE_HOME": "/c", "RUNNER_TOOL_CACHE": "/opt/tc"}
	get := func(k string) string { return env[k] }
	for _, want := range []string{"/opt/tc/build-push-image/proofs", "/c/build-push-image/proofs", "/home/u/.cache/build-push-image/proofs", ""} {
		if got := Dir(get); got != want {
			t.Errorf("Dir = %q, want %q (env %v)", got, want, env)
		}
		for _, k := range []string{"RUNNER_TOOL_CACHE", "XDG_CACHE_HOME", "HOME"} {
			if env[k] != "" {
				delete(env, k)
				break
			}
		}
	}
}
