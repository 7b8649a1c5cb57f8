package main

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/blumeops/build-push-image/internal/testcheck"
	"github.com/blumeops/build-push-image/internal/zotkey"
)

// TestByHandNothingEchoed: run by hand (no runner in the environment), the
// program prints no ::add-mask:: and no form of the key or of a build
// secret, also when it fails after reading every input; under a runner the
// same run masks both first thing.
func TestByHandNothingEchoed(t *testing.T) {
	const buildSecret = "{\n  \"token\": \"build_secret_value_42\"\n}"
	for _, runner := range []string{"", "GITHUB_ACTIONS", "FORGEJO_ACTIONS"} {
		t.Run("runner="+runner, func(t *testing.T) {
			env := testcheck.ValidInputs(testcheck.Workspace(t))
			env["MULTI"] = buildSecret
			env["INPUT_SECRETS"] = "token=env:MULTI"
			if runner != "" {
				env[runner] = "true"
			}
			var stdout, stderr bytes.Buffer
			if code := realMain(nil, testcheck.Lookup(env), &stdout, &stderr); code != 1 {
				t.Fatalf("exit %d, want 1 (no buildkitd)\n%s", code, stdout.String())
			}
			testcheck.OneErrorLine(t, stdout.String(), "buildkit-address: no buildkitd answers")
			masks := strings.Count(stdout.String(), "::add-mask::")
			if runner == "" {
				if masks > 0 {
					t.Errorf("%d ::add-mask:: commands echoed to a terminal:\n%s", masks, stdout.String())
				}
				testcheck.NoSecret(t, env["INPUT_API-KEY"], stdout.String(), stderr.String())
				testcheck.NoSecret(t, "build_secret_value_42", stdout.String(), stderr.String())
				return
			}
			if !strings.HasPrefix(stdout.String(), "::add-mask::"+env["INPUT_API-KEY"]+"\n") {
				t.Errorf("under a runner the key is not masked first thing:\n%s", stdout.String())
			}
			if !strings.Contains(stdout.String(), "::add-mask::\"token\": \"build_secret_value_42\"\n") {
				t.Errorf("the secret's meaningful line is not masked:\n%s", stdout.String())
			}
			for _, form := range []string{
				"zak+secret+for+unit+tests", // '_' and '+' swapped
				base64.StdEncoding.EncodeToString([]byte("ci:zak_secret_for_unit_tests")), // the Basic header's
				`\"token\": \"build_secret_value_42\"`,                                    // quoted
			} {
				if !strings.Contains(stdout.String(), "::add-mask::"+form+"\n") {
					t.Errorf("form %s is not masked:\n%s", form, stdout.String())
				}
			}
			if errLine := strings.Index(stdout.String(), "::error::"); masks != strings.Count(stdout.String()[:errLine], "\n") {
				t.Errorf("not every line before the error is a mask:\n%s", stdout.String())
			}
		})
	}
}

// TestPlanMasksKeyFirst: the plan command masks the key first thing under
// a runner, before even a usage error, and never prints it.
func TestPlanMasksKeyFirst(t *testing.T) {
	const key = "zak_plan_key_for_unit_tests"
	env := map[string]string{"GITHUB_ACTIONS": "true", "INPUT_API-KEY": key, "INPUT_USERNAME": "ci", "INPUT_IMAGE": "registry.example/{name}", "INPUT_VERSION-ARG": "V"}
	var stdout, stderr bytes.Buffer
	if code := realMain([]string{"plan"}, testcheck.Lookup(env), &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2 (no contexts)\n%s", code, stdout.String())
	}
	if !strings.HasPrefix(stdout.String(), "::add-mask::"+key+"\n") {
		t.Errorf("the key is not masked first thing:\n%s", stdout.String())
	}
	testcheck.OneErrorLine(t, stdout.String(), "contexts: required")
	testcheck.NoSecret(t, key, stdout.String(), stderr.String())
}

// TestErrorLinesRedacted: an error line that quotes a secret in any form
// (here the tag hint's, which quotes the value and turns '+' into '_')
// has every form cut out, by hand as under a runner.
func TestErrorLinesRedacted(t *testing.T) {
	const key = `zak_key+with"quote\and+plus`
	for _, runner := range []string{"", "GITHUB_ACTIONS"} {
		env := testcheck.ValidInputs(testcheck.Workspace(t))
		env["INPUT_API-KEY"] = key
		env["INPUT_VERSION"] = key
		if runner != "" {
			env[runner] = "true"
		}
		var stdout, stderr bytes.Buffer
		if code := realMain(nil, testcheck.Lookup(env), &stdout, &stderr); code != 2 {
			t.Fatalf("exit %d, want 2\n%s", code, stdout.String())
		}
		testcheck.OneErrorLine(t, stdout.String(), "version: \"***\" contains '+'")
		testcheck.NoSecret(t, key, stdout.String(), stderr.String())
	}
}

// TestRequestTokenMaskedFirst: under a runner the job's ID token request
// token is masked before anything else is printed, even when oidc-audience
// is not set and the inputs are refused; a zot key's wrapped bearer form
// (what a zot that combines hands back for it) is masked too.
func TestRequestTokenMaskedFirst(t *testing.T) {
	env := testcheck.ValidInputs(testcheck.Workspace(t))
	env["GITHUB_ACTIONS"] = "true"
	env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "request-token-of-this-job"
	env["INPUT_API-KEY"] = testcheck.ZotKey()
	env["INPUT_PUSH"] = "maybe" // refused: the run ends at the inputs
	var stdout, stderr bytes.Buffer
	if code := realMain(nil, testcheck.Lookup(env), &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, stdout.String())
	}
	first := strings.Index(stdout.String(), "::error::")
	for _, want := range []string{"request-token-of-this-job", zotkey.Wrapped(env["INPUT_USERNAME"], env["INPUT_API-KEY"])} {
		if i := strings.Index(stdout.String(), "::add-mask::"+want+"\n"); i < 0 || i > first {
			t.Errorf("%q not masked before the first error line:\n%s", want, stdout.String())
		}
	}
}
