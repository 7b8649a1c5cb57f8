package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/blumeops/build-push-image/internal/stream"
)

// Origin is where a run's image comes from, decided once where the inputs
// are parsed: built from the context, or read from the archive input, as
// a file, an OCI layout directory, a program's output or standard input.
// Everything after Parse switches on its Kind; nothing asks the archive
// input again.
type Origin struct {
	Kind Kind
	// Path is the archive's path ("-" for standard input, "" for a build).
	Path string
}

// Kind is the kind of Origin.
type Kind int

const (
	// Build builds the image with BuildKit from context and file.
	Build Kind = iota
	// ArchiveFile is a docker-archive or an OCI archive (nix-build's
	// result, docker save), read from the file.
	ArchiveFile
	// ArchiveLayout is an OCI layout directory.
	ArchiveLayout
	// ArchiveProgram is a program that writes a docker-archive on its
	// standard output (streamLayeredImage's result), started after the
	// guard and read as it writes.
	ArchiveProgram
	// ArchiveStdin is archive: -, the image read from standard input.
	ArchiveStdin
)

// IsArchive is true when the image is read, not built: no buildkitd is
// contacted, and the build inputs are refused.
func (o Origin) IsArchive() bool { return o.Kind != Build }

// Streamed is true when the archive is read as it is written (a program's
// output, or standard input): what it holds is known only as it comes.
func (o Origin) Streamed() bool { return o.Kind == ArchiveProgram || o.Kind == ArchiveStdin }

// parseOrigin reads the archive input into the run's Origin.
func parseOrigin(archive string) (Origin, error) {
	if archive == "" {
		return Origin{Kind: Build}, nil
	}
	path, err := parseArchive(archive)
	return Origin{Kind: archiveKind(path, err), Path: path}, err
}

// archiveKind is the kind of archive path holds. A path that cannot be
// read still makes an archive run (ArchiveFile), with its error: the
// inputs are refused as for one.
func archiveKind(path string, err error) Kind {
	switch {
	case err != nil:
		return ArchiveFile
	case path == "-":
		return ArchiveStdin
	case stream.IsProgram(path):
		return ArchiveProgram
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return ArchiveLayout
	}
	return ArchiveFile
}

// transports are skopeo's names of the formats archive reads, written
// before the path (docker-archive:result): the path is what follows, the
// format is read from the content all the same.
var transports = []string{"docker-archive:", "oci-archive:", "oci:"}

// parseArchive checks the archive input: a file or a directory (symlinks
// followed, as nix-build's result is one) inside the workspace when
// relative, with or without skopeo's transport before it, or "-"
// (standard input). A file may be a program that writes the archive
// (internal/stream decides). What it holds is checked when it is read,
// after the guard.
func parseArchive(p string) (string, error) {
	if p == "" || p == "-" { // "-": standard input
		return p, nil
	}
	notFound := fmt.Sprintf("%q not found; give the path of a docker-archive (docker save, nix-build's result), an OCI archive, an OCI layout directory, a program writing a docker-archive (streamLayeredImage's result), or - for standard input", p)
	if _, err := os.Stat(p); err != nil {
		for _, t := range transports {
			if path, ok := strings.CutPrefix(p, t); ok {
				p = path
				notFound = fmt.Sprintf("%q not found after %s; give the path of the archive (skopeo's image name after it goes in archive-image)", p, t)
				break
			}
		}
	}
	clean, _, err := statInput(p, notFound)
	return clean, err
}
