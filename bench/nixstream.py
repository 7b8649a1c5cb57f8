"""The bench's nix-like stream program: what a streamLayeredImage result
runs, made to cost what it costs.

nixpkgs' pkgs/build-support/docker/stream_layered_image.py writes the
image as an uncompressed docker-archive to stdout. This program does the
same work by the same means (Python's tarfile in stream mode, hashlib,
a pipe fed by a thread), written from what that script does, so that the
bench's floor (this program > /dev/null) is the users' floor, not that
of a faster writer:

  - one layer per entry of store_layers, each a tar of /nix, /nix/store
    and the store paths' files (sorted, absolute names, hard links as
    regular files, the configured mtime and owner), made twice: a first
    pass into a sha256 and a byte count only (the outer tar needs the
    name <sha256>/layer.tar and the size before the bytes), a second
    pass through a pipe, written by a thread, into the outer tar;
  - the customisation layer: a prepared layer.tar named by the checksum
    file beside it;
  - the config (<sha256>.json, json.dumps(indent=4)), then manifest.json,
    last.

Not done: from_image (no base image in the bench), created "now".

Usage: nixstream.py conf.json. With NIXSTREAM_PASSES set in its
environment, it also says when each layer's first pass ended (the bench
times the two passes of its floor that way); the output is the same.
"""

import hashlib
import io
import json
import os
import pathlib
import sys
import tarfile
import threading
from datetime import datetime


class Owner:
    """The fixed mtime and ownership every entry of a layer gets."""

    def __init__(self, conf):
        self.mtime = int(datetime.fromisoformat(conf["mtime"]).timestamp())
        self.uid, self.gid = int(conf["uid"]), int(conf["gid"])
        self.uname, self.gname = conf["uname"], conf["gname"]

    def apply(self, info):
        info.mtime = self.mtime
        info.uid, info.gid = self.uid, self.gid
        info.uname, info.gname = self.uname, self.gname
        return info


def store_files(path):
    """A store path and, unless it is a symlink, everything under it, in
    the order the layer lists them."""
    path = pathlib.Path(path)
    if path.is_symlink():
        return [path]
    return sorted([path, *path.rglob("*")])


def tar_entry(tar, owner, name):
    """Adds one file as tarfile sees it, its name made absolute again."""
    info = tar.gettarinfo(name)
    info.name = "/" + info.name
    if info.islnk():  # the layer is self-contained: a hard link's file
        info.type, info.linkname = tarfile.REGTYPE, ""
        info.size = name.stat().st_size
    owner.apply(info)
    if not info.isfile():
        tar.addfile(info)
        return
    with open(name, "rb") as f:
        tar.addfile(info, f)


def write_layer(out, paths, owner):
    """Writes the layer tar of paths to out (anything with write)."""
    with tarfile.open(fileobj=out, mode="w|") as tar:
        for root in ("/nix", "/nix/store"):  # first, as docker's tools do
            info = tarfile.TarInfo(root)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(owner.apply(info))
        for path in paths:
            for name in store_files(path):
                tar_entry(tar, owner, name)


class Checksum:
    """A sink that keeps only the sha256 and the length of what it gets."""

    def __init__(self):
        self.sha256, self.size = hashlib.sha256(), 0

    def write(self, data):
        self.sha256.update(data)
        self.size += len(data)


def add_store_layer(tar, num, paths, conf, owner):
    """The first pass for the name and size, the second into tar."""
    bad = [p for p in paths if not p.startswith(conf["store_dir"])]
    assert not bad, f"expecting absolute paths from {conf['store_dir']}: {bad}"
    first = Checksum()
    write_layer(first, paths, owner)
    checksum = first.sha256.hexdigest()
    if "NIXSTREAM_PASSES" in os.environ:
        print("Hashed layer", num, checksum, first.size, file=sys.stderr)
    info = tarfile.TarInfo(f"{checksum}/layer.tar")
    info.size, info.mtime = first.size, owner.mtime
    read_fd, write_fd = os.pipe()
    with open(read_fd, "rb") as read, open(write_fd, "wb") as write:

        def second_pass():
            write_layer(write, paths, owner)
            write.close()  # the reader's end of file

        threading.Thread(target=second_pass).start()
        tar.addfile(info, read)
    return checksum, paths


def add_customisation_layer(tar, directory, owner):
    """The prepared layer, under the checksum written beside it."""
    with open(os.path.join(directory, "checksum")) as f:
        checksum = f.read().strip()
    assert len(checksum) == 64, f"invalid sha256 in {directory}/checksum"
    layer = os.path.join(directory, "layer.tar")
    info = tar.gettarinfo(layer)
    info.name, info.mtime = f"{checksum}/layer.tar", owner.mtime
    with open(layer, "rb") as f:
        tar.addfile(info, f)
    return checksum, [directory]


def indented(value):
    """JSON as the script writes it."""
    return json.dumps(value, indent=4).encode("utf-8")


def add_bytes(tar, name, data, mtime):
    """Adds a file of data."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), mtime
    tar.addfile(info, io.BytesIO(data))


def add_manifests(tar, conf, layers, mtime):
    """The config, named by its sha256, then manifest.json."""
    created = datetime.fromisoformat(conf["created"]).isoformat()
    config = {
        "created": created,
        "architecture": conf["architecture"],
        "os": "linux",
        "config": conf["config"],
        "rootfs": {
            "diff_ids": [f"sha256:{c}" for c, _ in layers],
            "type": "layers",
        },
        "history": [
            {"created": created, "comment": f"store paths: {p}"}
            for _, p in layers
        ],
    }
    data = indented(config)
    name = hashlib.sha256(data).hexdigest() + ".json"
    add_bytes(tar, name, data, mtime)
    manifest = [
        {
            "Config": name,
            "RepoTags": [conf["repo_tag"]],
            "Layers": [f"{c}/layer.tar" for c, _ in layers],
        }
    ]
    add_bytes(tar, "manifest.json", indented(manifest), mtime)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: nixstream.py conf.json")
    with open(sys.argv[1]) as f:
        conf = json.load(f)
    owner = Owner(conf)
    with tarfile.open(mode="w|", fileobj=sys.stdout.buffer) as tar:
        layers = []
        for num, paths in enumerate(conf["store_layers"], start=1):
            print("Creating layer", num, "from paths:", paths, file=sys.stderr)
            layers.append(add_store_layer(tar, num, paths, conf, owner))
        print(
            "Creating layer",
            len(layers) + 1,
            "with customisation...",
            file=sys.stderr,
        )
        custom = conf["customisation_layer"]
        layers.append(add_customisation_layer(tar, custom, owner))
        print("Adding manifests...", file=sys.stderr)
        add_manifests(tar, conf, layers, owner.mtime)
    print("Done.", file=sys.stderr)


if __name__ == "__main__":
    main()
