package e2e

import (
	"testing"
)

// TestArchiveMountsFromOtherRepository: nix images share most store
// paths. The first push of an image to a new repository lists another
// repository of the registry in reuse-from (a plan's other image): the
// layers it holds are mounted, counted at the registry as mount requests,
// and only the new layer and the config are uploaded. The image pulls
// whole from its own repository.
func TestArchiveMountsFromOtherRepository(t *testing.T) {
	r := requireRig(t)
	t.Parallel()
	fp := newFaultProxy(t, r)
	prefix := randomName("it/mount")
	glibc := [2]string{"0c5g8wsvzkpmbx3k9vy0dfz6z4cjhd43-glibc-2.40", "libc " + randomName("")}
	bash := [2]string{"1b4f9x2q1ljd0mbx3k9vy0dfz6z4cjhd-bash-5.2", "bash " + randomName("")}
	env := archiveInputs(t, r, prefix+"/api", "v1.0.0", nixStoreImage(t, "api", glibc, bash, [2]string{"2m1ms2ka6ljdvb4d1a2gk7m2kf9xnb2c-api-1.0.0", "api"}))
	env["INPUT_IMAGE"] = fp.addr + "/" + prefix + "/api"
	env["INPUT_TAG-SUFFIX"] = "-nix"
	runArchive(t, env)

	mounts, posts := fp.count(kindBlobMount), fp.count(kindBlobPost)
	env["INPUT_IMAGE"] = fp.addr + "/" + prefix + "/worker"
	env["INPUT_ARCHIVE"] = nixStoreImage(t, "worker", glibc, bash, [2]string{"7q1ms2ka6ljdvb4d1a2gk7m2kf9xnb2b-worker-1.0.0", "worker"})
	// The plan's images, the worker's own among them: api's newest -nix release.
	env["INPUT_REUSE-FROM"] = fp.addr + "/" + prefix + "/api\n" + fp.addr + "/" + prefix + "/worker"
	worker := runArchive(t, env)
	if n := fp.count(kindBlobMount) - mounts; n != 2 {
		t.Errorf("%d mounts at the registry, want 2 (glibc and bash, from the api repository)", n)
	}
	if n := fp.count(kindBlobPost) - posts; n != 2 {
		t.Errorf("%d uploads started at the registry, want 2 (the worker's own layer and the config)", n)
	}
	wantLines(t, "worker", worker.stdout, []string{"from " + fp.addr + "/" + prefix + "/api:v1.0.0-nix", "3 layers: 2 reused from the registry, 1 compressed",
		"Uploaded 1 of the 3 layers (2 reused)"}, nil)
	r.verifyImage(t, prefix+"/worker", worker.outputs["digest"])
}
