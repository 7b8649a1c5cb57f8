package push

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/errs"
)

// PushCheck is what CheckPush found: the registry let the credentials
// start a blob upload in the repository.
type PushCheck struct {
	// Cancelled: the registry also let the upload session be cancelled.
	// zot needs the delete action for that; a create-only user's empty
	// session (no blob) stays until zot's garbage collection removes
	// stale uploads (v2.1.20 does, with gc on, after its gcDelay).
	Cancelled bool
}

// CheckPush proves, writing nothing, that the registry takes the
// credentials and lets them create in the repository: it starts a blob
// upload (POST /v2/<name>/blobs/uploads/, offering to mount a random
// digest no repository holds, so the registry answers 202 with an upload
// session), then cancels that session (DELETE); no blob, manifest or tag
// is written. A read never proves the key where anonymous read is allowed
// (regclient sends credentials only when challenged, and a GET is not),
// but an upload cannot start anonymously: the registry challenges, and
// a wrong key then gets 401, a user without create 403.
func (r *Registry) CheckPush(ctx context.Context) (PushCheck, error) {
	probe := make([]byte, 32)
	_, _ = rand.Read(probe)
	d := descriptor.Descriptor{Digest: digest.FromBytes(probe)}
	var check PushCheck
	err := call(ctx, "start an upload to "+r.repo.CommonName(), func(ctx context.Context) error {
		err := r.rc.BlobMount(ctx, r.repo, r.repo, d)
		if errors.Is(err, errs.ErrMountReturnedLocation) { // the upload session, cancelled by regclient
			check.Cancelled = !deleteRefused(ctx)
			return nil
		}
		if err == nil {
			return fmt.Errorf("the registry says it holds the random blob %s", d.Digest)
		}
		return err
	})
	return check, err
}

// deleteRefused: the registry refused the cancel of the upload session
// (regclient ignores that answer; the transport recorded it).
func deleteRefused(ctx context.Context) bool {
	rec, ok := ctx.Value(recorderKey{}).(*recorder)
	if !ok {
		return false
	}
	re := rec.refusal()
	return re != nil && re.Method == "DELETE"
}
