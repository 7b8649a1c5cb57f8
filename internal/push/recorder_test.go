package push

import (
	"context"
	"testing"
)

// TestRefusalOfCredentialsStays: the refusal that explains a call is the
// last one, until the registry refuses a request that carried credentials
// (401 or 403): what regclient does after it (a chunked retry, the cancel
// of the upload session) does not replace it. A 401 without credentials
// is the login challenge, replaced by what follows.
func TestRefusalOfCredentialsStays(t *testing.T) {
	type answer struct {
		method     string
		status     int
		authorized bool
	}
	for _, tc := range []struct {
		name    string
		answers []answer
		want    answer
	}{
		{"challenge, then denied", []answer{{"POST", 401, false}, {"POST", 403, true}}, answer{"POST", 403, true}},
		{"rejected, then regclient's fallback and clean-up", []answer{{"PUT", 401, true}, {"PATCH", 416, true}, {"DELETE", 416, true}}, answer{"PUT", 401, true}},
		{"challenge alone", []answer{{"HEAD", 401, false}}, answer{"HEAD", 401, false}},
		{"other refusals: the last", []answer{{"PUT", 400, true}, {"DELETE", 404, true}}, answer{"DELETE", 404, true}},
	} {
		ctx, rec := withRecorder(context.Background())
		for _, a := range tc.answers {
			recordRefusal(ctx, &ResponseError{Method: a.method, Status: a.status}, a.authorized)
		}
		if got := rec.refusal(); got == nil || got.Method != tc.want.method || got.Status != tc.want.status {
			t.Errorf("%s: recorded %+v, want %s %d", tc.name, got, tc.want.method, tc.want.status)
		}
	}
}
