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
	"os"
	"os/signal"
	"syscall"

	digest "github.com/opencontainers/go-digest"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/types/ref"

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
	"proto-conc8": {"conc8", "prototype: OCI layout + regclient, 8 requests per host", true, publishLayoutConcurrent(8)},
}

// prototypeTools are the prototypes as tools, in a fixed order.
func prototypeTools() []tool {
	var out []tool
	for _, cmd := range []string{"proto-conc8"} {
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

func publishLayoutConcurrent(n int64) func(context.Context, protoOpts) (digest.Digest, error) {
	return func(ctx context.Context, o protoOpts) (digest.Digest, error) {
		res, layout, cleanup, err := buildLayout(ctx, o)
		defer cleanup()
		if err != nil {
			return "", err
		}
		fmt.Printf("Pushing %s@%s\n", o.image, res.Digest)
		dst, err := ref.New(o.image)
		if err != nil {
			return "", err
		}
		src, err := ref.New("ocidir://" + layout + "@" + res.Digest.String())
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

func buildLayout(ctx context.Context, o protoOpts) (build.Result, string, func(), error) {
	noop := func() {}
	builder, err := build.Connect(ctx, o.buildkit)
	if err != nil {
		return build.Result{}, "", noop, err
	}
	defer builder.Close()
	dir, err := os.MkdirTemp(os.Getenv("RUNNER_TEMP"), "bench-layout-")
	if err != nil {
		return build.Result{}, "", noop, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	res, err := builder.Build(ctx, build.Request{
		ContextDir: o.context, Dockerfile: o.file, Progress: os.Stdout,
		Credentials: []build.Credential{{Host: hostOf(o.image), Username: o.user, Password: o.key}},
		Export:      build.Export{Layout: dir},
	})
	return res, dir, cleanup, err
}

func hostOf(image string) string {
	r, err := ref.New(image)
	if err != nil {
		return ""
	}
	return r.Registry
}
