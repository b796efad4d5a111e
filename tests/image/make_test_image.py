#!/usr/bin/env python3
"""Builds a deterministic OCI image layout whose three layers hold the awkward
cases an image converter must carry through unchanged, for flimage's
integration tests.

    make_test_image.py LAYOUT_DIR [--tag TAG] [--variant N]

Creates LAYOUT_DIR (or adds to an existing layout: the index entry with the
same tag is replaced, the others kept) and prints the manifest digest.
Identical arguments give identical bytes, hence identical digests.

  layer 1, tar+gzip: a base tree with every file type (devices, FIFO, symlinks
      relative, absolute and escaping the root, a hard link), setuid/setgid/
      sticky modes, non-root owners, xattrs (user.* and security.capability),
      an empty file, 1 MiB, 2.5 MiB random and 3 MiB (one 1 MiB block x3).
  layer 2, plain tar: whiteouts of a file and of a directory, an opaque
      directory, the 2.5 MiB file with 4 KiB changed in its middle, a file
      that becomes a directory and a directory that becomes a file, a hard
      link to a layer-1 file, a directory whose mode changes.
  layer 3, tar+zstd: 20 nested directories, 2,000 small files, a 255-byte
      name, a name with spaces and UTF-8, an absolute entry name, 16 MiB of
      mostly zeros.

--variant N changes the first MiB of usr/lib/random.bin (in layers 1 and 2)
and etc/hostname, so that two variants share every other chunk.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import tarfile

T0 = 1700000000  # 2023-11-14T22:13:20Z
CREATED = "2023-11-14T22:13:20Z"
MiB = 1 << 20
# VFS_CAP_REVISION_2, effective flag set, CAP_NET_RAW (bit 13) permitted.
CAP_NET_RAW = b"\x01\x00\x00\x02\x00\x20\x00\x00" + bytes(12)

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_TAR = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"


def rand(seed, n):
    return random.Random(seed).randbytes(n)


class Layer:
    """A PAX tar built in memory. Entry k of a layer gets mtime base + k, so
    that an unpacker applying the wrong entry's time is caught."""

    def __init__(self, base_mtime):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)
        self.mtime = base_mtime

    def add(self, name, kind, mode, data=b"", uid=0, gid=0, link="", dev=(0, 0), nsec=0,
            xattrs=None):
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.uid, info.gid, info.linkname = kind, mode, uid, gid, link
        info.devmajor, info.devminor = dev
        info.mtime = self.mtime
        self.mtime += 1
        if nsec:
            # Set by hand: tarfile would format a float mtime with only
            # microsecond precision.
            info.pax_headers["mtime"] = f"{info.mtime}.{nsec:09d}"
        for key, value in (xattrs or {}).items():
            # Non-UTF-8 bytes survive as surrogates, which tarfile writes back
            # as raw bytes under hdrcharset=BINARY.
            info.pax_headers["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        self.tar.addfile(info, io.BytesIO(data) if info.size else None)

    def dir(self, name, mode=0o755, **kw):
        self.add(name, tarfile.DIRTYPE, mode, **kw)

    def file(self, name, data, mode=0o644, **kw):
        self.add(name, tarfile.REGTYPE, mode, data, **kw)

    def symlink(self, name, target):
        self.add(name, tarfile.SYMTYPE, 0o777, link=target)

    def hardlink(self, name, target):
        # 0644 and its own mtime, unlike the 0755 targets: an unpacker must
        # not apply a link entry's metadata to the shared inode.
        self.add(name, tarfile.LNKTYPE, 0o644, link=target)

    def whiteout(self, name):
        self.add(name, tarfile.REGTYPE, 0o644)

    def bytes(self):
        self.tar.close()
        return self.buf.getvalue()


def random_bin(variant):
    return rand(f"random.bin head {variant}", MiB) + rand("random.bin tail", 3 * MiB // 2)


def layer1(variant):
    t = Layer(T0)
    t.dir("dev")
    t.add("dev/null", tarfile.CHRTYPE, 0o666, dev=(1, 3))
    t.add("dev/loop0", tarfile.BLKTYPE, 0o660, gid=6, dev=(7, 0))
    t.add("dev/initctl", tarfile.FIFOTYPE, 0o600)
    t.dir("etc")
    t.file("etc/empty.conf", b"")
    t.file("etc/hostname", f"feilong-{variant}\n".encode(), nsec=123456789,
           xattrs={"user.feilong": b"hello"})
    t.symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
    t.file("etc/passwd", b"root:x:0:0:root:/root:/usr/bin/sh\n"
                         b"user:x:1000:1000::/home/user:/usr/bin/sh\n")
    t.file("etc/profile.d", b"# a file here; a directory in layer 2\n")
    t.file("etc/removed.conf", b"whited out by layer 2\n")
    t.dir("home")
    t.dir("home/user", 0o750, uid=1000, gid=1000, nsec=500000000)
    t.file("home/user/.profile", b"export PS1='$ '\n", 0o600, uid=1000, gid=1000)
    t.dir("opt")
    t.dir("opt/data")
    t.file("opt/data/readme.txt", b"the whole of opt/data is whited out by layer 2\n")
    t.dir("opt/data/sub")
    t.file("opt/data/sub/a.txt", b"a\n")
    t.file("opt/data/sub/b.txt", b"b\n")
    t.symlink("opt/escape", "../../../../etc")
    t.dir("tmp", 0o1777)
    t.dir("usr")
    t.dir("usr/bin")
    t.file("usr/bin/busybox", rand("busybox", 128 * 1024), 0o755)
    t.hardlink("usr/bin/ls", "usr/bin/busybox")
    t.file("usr/bin/ping", rand("ping", 4096), 0o755, xattrs={"security.capability": CAP_NET_RAW})
    t.symlink("usr/bin/sh", "busybox")
    t.file("usr/bin/su", rand("su", 8192), 0o4755)
    t.file("usr/bin/wall", rand("wall", 2048), 0o2755, gid=5)
    t.dir("usr/lib")
    t.file("usr/lib/one-mib.bin", bytes(range(256)) * (MiB // 256))
    t.dir("usr/lib/plugins")
    t.file("usr/lib/plugins/a.so", rand("a.so", 1000), 0o755)
    t.file("usr/lib/random.bin", random_bin(variant), nsec=1)
    t.file("usr/lib/repeat.bin", rand("repeat block", MiB) * 3)
    t.dir("usr/share")
    t.dir("usr/share/zoneinfo")
    t.file("usr/share/zoneinfo/UTC", b"TZif2\0UTC\n")
    t.dir("var")
    t.dir("var/cache")
    t.dir("var/cache/app")
    t.file("var/cache/app/old.dat", b"hidden by the opaque marker in layer 2\n")
    t.dir("var/cache/app/tmp")
    t.file("var/cache/app/tmp/x.part", b"also hidden\n")
    return t.bytes()


def layer2(variant):
    # Parents of changed paths are re-emitted, as docker and buildah do; their
    # mtimes (and home/user's mode) change.
    t = Layer(T0 + 1000)
    t.dir("etc")
    t.whiteout("etc/.wh.removed.conf")
    t.dir("etc/profile.d")
    t.file("etc/profile.d/feilong.sh", b"export FEILONG=1\n")
    t.dir("home")
    t.dir("home/user", 0o700, uid=1000, gid=1000)
    t.dir("opt")
    t.whiteout("opt/.wh.data")
    t.dir("usr")
    t.dir("usr/bin")
    # The link's target lives only in layer 1 (image-spec: "may fail").
    t.hardlink("usr/bin/env", "usr/bin/busybox")
    t.dir("usr/lib")
    t.file("usr/lib/plugins", b"a directory in layer 1\n")
    data = bytearray(random_bin(variant))
    middle = len(data) // 2
    data[middle - 2048:middle + 2048] = rand("random.bin patch", 4096)
    t.file("usr/lib/random.bin", bytes(data), nsec=999999999)
    t.dir("var")
    t.dir("var/cache")
    t.dir("var/cache/app")
    t.whiteout("var/cache/app/.wh..wh..opq")
    t.file("var/cache/app/new.dat", b"the only child left\n")
    return t.bytes()


def layer3():
    t = Layer(T0 + 2000)
    t.dir("abs")
    t.file("/abs/file", b"the tar entry name is absolute\n")
    t.dir("big")
    zeros = bytearray(16 * MiB)
    for off in (0, 8 * MiB, 16 * MiB - 1):
        zeros[off] = 0xFF
    t.file("big/zeros.img", bytes(zeros))
    path = "deep"
    t.dir(path)
    for i in range(1, 21):
        path += f"/level-{i:02d}"
        t.dir(path)
    t.file(path + "/leaf.txt", b"20 levels down\n", nsec=42)
    t.dir("many")
    for i in range(2000):
        t.file(f"many/f{i:04d}", f"small file {i}\n".encode())
    t.dir("names")
    t.file("names/long-" + "0123456789" * 25, b"255-byte name\n")
    t.file("names/with space ü 飞龙.txt", b"spaces and UTF-8\n")
    return t.bytes()


def zstd(data):
    return subprocess.run(["zstd", "-q", "-19", "-T1", "--no-check", "-c"], input=data,
                          stdout=subprocess.PIPE, check=True).stdout


def put_blob(layout, media_type, data):
    hexdigest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", hexdigest)
    if not os.path.exists(path):
        write_file(path, data)
    return {"mediaType": media_type, "digest": "sha256:" + hexdigest, "size": len(data)}


def write_file(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def build(layout, tag, variant):
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    write_file(os.path.join(layout, "oci-layout"), canonical_json({"imageLayoutVersion": "1.0.0"}))

    tars = [
        (layer1(variant), MT_TAR + "+gzip", lambda d: gzip.compress(d, 9, mtime=0),
         "layer 1: base tree, every file type"),
        (layer2(variant), MT_TAR, lambda d: d, "layer 2: whiteouts, opaque dir, type changes"),
        (layer3(), MT_TAR + "+zstd", zstd, "layer 3: deep, many, odd names, 16 MiB zeros"),
    ]
    layers, diff_ids, history = [], [], []
    for tar, media_type, compress, comment in tars:
        layers.append(put_blob(layout, media_type, compress(tar)))
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        history.append({"created": CREATED, "created_by": "make_test_image.py", "comment": comment})

    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": CREATED,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/usr/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": put_blob(layout, MT_CONFIG, canonical_json(config)),
        "layers": layers,
    }
    desc = put_blob(layout, MT_MANIFEST, canonical_json(manifest))
    desc["annotations"] = {REF_NAME: tag}

    index_path = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path, "rb") as f:
            index = json.load(f)
    # The new entry takes the place of the first one with this tag, so that
    # re-running keeps index.json byte-identical.
    entries, placed = [], False
    for m in index.get("manifests", []):
        if m.get("annotations", {}).get(REF_NAME) != tag:
            entries.append(m)
        elif not placed:
            entries.append(desc)
            placed = True
    if not placed:
        entries.append(desc)
    index["manifests"] = entries
    write_file(index_path, json.dumps(index, indent=2, ensure_ascii=False).encode() + b"\n")
    return desc["digest"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("layout", metavar="LAYOUT_DIR")
    parser.add_argument("--tag", default="latest")
    parser.add_argument("--variant", type=int, default=0)
    args = parser.parse_args()
    print(build(args.layout, args.tag, args.variant))


if __name__ == "__main__":
    main()
