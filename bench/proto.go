package main

// Prototypes of a tuned push path. Each runs as a subcommand of this
// program, with the action's flags, so it is timed and measured exactly
// like the action. They reuse internal/build, internal/push and
// internal/guard where they can and change only the part under test.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/docker/cli/cli/config/types"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/types/ref"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"

	"github.com/blumeops/build-push-image/internal/build"
	"github.com/blumeops/build-push-image/internal/push"
)

// prototype is a variant of the action's build and push.
type prototype struct {
	short, title string
	pushPart     bool
	// publish builds and uploads the image by digest and returns it; the
	// common code around it checks the version first and tags afterwards.
	publish func(ctx context.Context, o protoOpts) (digest.Digest, error)
}

var prototypes = map[string]prototype{
	"proto-digest": {"digest", "prototype: BuildKit pushes by digest, regclient tags", false, publishByDigest},
	"proto-conc8":  {"conc8", "prototype: OCI layout + regclient, 8 requests per host", true, publishLayoutConcurrent(8)},
}

// prototypeTools are the prototypes as tools, in a fixed order.
func prototypeTools() []tool {
	var out []tool
	for _, cmd := range []string{"proto-digest", "proto-conc8"} {
		p := prototypes[cmd]
		out = append(out, tool{name: p.short, title: p.title, pushPart: p.pushPart,
			run: func(ctx context.Context, b *bench, j job) (sample, error) {
				return runActionLike(ctx, b, j, []string{b.self, cmd})
			}})
	}
	return out
}

type protoOpts struct {
	image, version, sha, context, file, user, key, buildkit string
}

func runPrototype(p prototype, args []string) int {
	o, err := parseProtoOpts(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := protoRun(ctx, p, o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}

func parseProtoOpts(args []string) (protoOpts, error) {
	fs := flag.NewFlagSet("prototype", flag.ContinueOnError)
	o := protoOpts{key: os.Getenv("INPUT_API_KEY")}
	for name, p := range map[string]*string{
		"image": &o.image, "version": &o.version, "sha": &o.sha, "context": &o.context,
		"file": &o.file, "username": &o.user, "buildkit-address": &o.buildkit,
	} {
		fs.StringVar(p, name, "", name)
	}
	fs.String("registry-tls", "disabled", "only plain HTTP is supported")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.image == "" || o.version == "" || o.sha == "" || o.context == "" || o.buildkit == "" {
		return o, errors.New("prototype: image, version, sha, context and buildkit-address are required")
	}
	return o, nil
}

// protoRun is the action's order of work: check that the version tag is
// free, build and upload by digest, check again, tag the version, verify
// it, then tag the SHA. (The tag checks are internal/guard's in the action;
// here they are inlined so that the prototypes only depend on push.)
func protoRun(ctx context.Context, p prototype, o protoOpts) error {
	reg, err := push.New(o.image, push.WithCredentials(o.user, o.key), push.WithTLS(push.TLSDisabled))
	if err != nil {
		return err
	}
	defer reg.Close()
	if err := versionFree(ctx, reg, o); err != nil {
		return err
	}
	d, err := p.publish(ctx, o)
	if err != nil {
		return err
	}
	if err := versionFree(ctx, reg, o); err != nil {
		return err
	}
	if err := reg.Tag(ctx, d, o.version); err != nil {
		return err
	}
	if got, _, err := reg.Lookup(ctx, o.version); err != nil || got != d {
		return fmt.Errorf("version tag %s: lost a race (%s, %v)", o.version, got, err)
	}
	if err := reg.Tag(ctx, d, o.sha); err != nil {
		return err
	}
	fmt.Printf("Tagged %s:%s and :%s at %s\n", o.image, o.version, o.sha, d)
	return nil
}

func versionFree(ctx context.Context, reg *push.Registry, o protoOpts) error {
	d, exists, err := reg.Lookup(ctx, o.version)
	if err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("version tag %s already exists in %s (%s)", o.version, o.image, d)
	}
	return nil
}

// publishByDigest lets buildkitd push straight from its content store
// (push-by-digest, no tag), with the credentials handed over through the
// session as the action already does for pulls. Nothing is exported to
// the client.
func publishByDigest(ctx context.Context, o protoOpts) (digest.Digest, error) {
	c, err := client.New(ctx, o.buildkit)
	if err != nil {
		return "", fmt.Errorf("buildkitd: %w", err)
	}
	defer c.Close()
	ctxFS, err := fsutil.NewFS(o.context)
	if err != nil {
		return "", fmt.Errorf("context: %w", err)
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(o.file))
	if err != nil {
		return "", fmt.Errorf("dockerfile: %w", err)
	}
	opt := client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: map[string]string{"filename": filepath.Base(o.file)},
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		Exports: []client.ExportEntry{{Type: client.ExporterImage, Attrs: map[string]string{
			"name": o.image, "push": "true", "push-by-digest": "true", "oci-mediatypes": "true",
		}}},
		Session: []session.Attachable{sessionAuth(o)},
	}
	resp, err := solveWithProgress(ctx, c, opt, os.Stdout)
	if err != nil {
		return "", err
	}
	return digest.Parse(resp.ExporterResponse["containerimage.digest"])
}

func solveWithProgress(ctx context.Context, c *client.Client, opt client.SolveOpt, w io.Writer) (*client.SolveResponse, error) {
	display, err := progressui.NewDisplay(w, progressui.PlainMode)
	if err != nil {
		return nil, err
	}
	ch := make(chan *client.SolveStatus)
	eg, ctx := errgroup.WithContext(ctx)
	var resp *client.SolveResponse
	eg.Go(func() (err error) {
		resp, err = c.Solve(ctx, nil, opt, ch)
		return err
	})
	eg.Go(func() error {
		_, err := display.UpdateFrom(context.WithoutCancel(ctx), ch)
		return err
	})
	if err := eg.Wait(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	return resp, nil
}

func sessionAuth(o protoOpts) session.Attachable {
	host := hostOf(o.image)
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: func(_ context.Context, h string, _ []string, _ authprovider.ExpireCachedAuthCheck) (types.AuthConfig, error) {
			if h != host {
				return types.AuthConfig{}, nil
			}
			return types.AuthConfig{ServerAddress: h, Username: o.user, Password: o.key}, nil
		},
	})
}

// publishLayoutConcurrent is the action's own build to an OCI layout,
// pushed by a regclient allowed n concurrent requests per host instead of
// the default 3.
func publishLayoutConcurrent(n int64) func(context.Context, protoOpts) (digest.Digest, error) {
	return func(ctx context.Context, o protoOpts) (digest.Digest, error) {
		res, cleanup, err := buildLayout(ctx, o)
		defer cleanup()
		if err != nil {
			return "", err
		}
		fmt.Printf("Pushing %s@%s\n", o.image, res.Digest)
		dst, err := ref.New(o.image)
		if err != nil {
			return "", err
		}
		src, err := ref.New("ocidir://" + res.Layout + "@" + res.Digest.String())
		if err != nil {
			return "", err
		}
		host := config.HostNewName(dst.Registry)
		host.User, host.Pass, host.TLS, host.ReqConcurrent = o.user, o.key, config.TLSDisabled, n
		rc := regclient.New(regclient.WithConfigHost(*host), regclient.WithUserAgent("build-push-image-bench"))
		if err := rc.ImageCopy(ctx, src, dst.SetTag("").SetDigest(res.Digest.String())); err != nil {
			return "", fmt.Errorf("push: %w", err)
		}
		return res.Digest, nil
	}
}

func buildLayout(ctx context.Context, o protoOpts) (build.Result, func(), error) {
	noop := func() {}
	builder, err := build.Connect(ctx, o.buildkit)
	if err != nil {
		return build.Result{}, noop, err
	}
	defer builder.Close()
	dir, err := os.MkdirTemp(os.Getenv("RUNNER_TEMP"), "bench-layout-")
	if err != nil {
		return build.Result{}, noop, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	res, err := builder.Build(ctx, build.Request{
		ContextDir: o.context, Dockerfile: o.file, Progress: os.Stdout,
		Credentials: []build.Credential{{Host: hostOf(o.image), Username: o.user, Password: o.key}},
	}, dir)
	return res, cleanup, err
}

func hostOf(image string) string {
	r, err := ref.New(image)
	if err != nil {
		return ""
	}
	return r.Registry
}
