#!/usr/bin/env python3
"""Compares two unpacked root filesystems exactly, for flimage's integration
tests (an image unpacked through flimage against the same image unpacked by a
reference tool such as umoci).

    compare_rootfs.py [--no-dir-mtime] A B

For every path, without following symlinks: file type, permission bits
(with setuid/setgid/sticky), uid, gid, size and SHA-256 of regular files,
symlink targets, device numbers, mtime in whole seconds (not for symlinks;
not for directories with --no-dir-mtime), xattrs (but security.selinux), and
hard-link groups: paths sharing an inode in A must share one in B and the
other way round. Of the root directory only mode and owner are compared.

Exits 0 if the trees are equal, 1 listing the differences (at most 50), 2 on
a usage error.
"""
import argparse
import errno
import hashlib
import os
import stat
import sys

MAX_LINES = 50
IGNORED_XATTRS = {"security.selinux"}  # set by the host's policy, not the image
TYPES = {stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFLNK: "symlink",
         stat.S_IFCHR: "char device", stat.S_IFBLK: "block device",
         stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}


def walk(root):
    """Yields every path below root, relative to it, "." for root itself."""
    yield "."
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel)) as it:
            for entry in it:
                path = os.path.join(rel, entry.name)
                yield path
                if entry.is_dir(follow_symlinks=False):
                    stack.append(path)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    return {n: os.getxattr(path, n, follow_symlinks=False)
            for n in sorted(names) if n not in IGNORED_XATTRS}


def describe(root, rel, st, dir_mtime):
    """The attributes of one path that must match, as printable values."""
    fmt = stat.S_IFMT(st.st_mode)
    attrs = {"type": TYPES.get(fmt, oct(fmt)), "mode": f"{stat.S_IMODE(st.st_mode):04o}",
             "uid": st.st_uid, "gid": st.st_gid}
    if rel == ".":
        return attrs
    full = os.path.join(root, rel)
    if fmt == stat.S_IFREG:
        attrs["size"] = st.st_size
        attrs["sha256"] = sha256(full)
    elif fmt == stat.S_IFLNK:
        attrs["target"] = os.readlink(full)
    elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
        attrs["rdev"] = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    if fmt != stat.S_IFLNK and (fmt != stat.S_IFDIR or dir_mtime):
        attrs["mtime"] = st.st_mtime_ns // 1_000_000_000
    for name, value in xattrs(full).items():
        attrs["xattr " + name] = value
    return attrs


def scan(root, dir_mtime):
    """Returns {path: attributes} and {path: the set of paths sharing its inode}
    (the latter only for non-directories linked more than once in the tree)."""
    tree, inodes = {}, {}
    for rel in walk(root):
        st = os.lstat(os.path.join(root, rel))
        tree[rel] = describe(root, rel, st, dir_mtime)
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            inodes.setdefault((st.st_dev, st.st_ino), set()).add(rel)
    links = {}
    for paths in inodes.values():
        if len(paths) > 1:
            group = frozenset(paths)
            links.update((p, group) for p in paths)
    return tree, links


def show(value):
    if value is None:
        return "<none>"
    text = repr(value) if isinstance(value, bytes) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def below(path, dirs):
    """Whether path lies under one of dirs, so that only the top of a subtree
    missing from one side is reported."""
    parent = os.path.dirname(path)
    while parent:
        if parent in dirs:
            return True
        parent = os.path.dirname(parent)
    return False


def compare(a, b, dir_mtime):
    tree_a, links_a = scan(a, dir_mtime)
    tree_b, links_b = scan(b, dir_mtime)
    diffs, missing, reported_groups = [], set(), set()
    for path in sorted(tree_a.keys() | tree_b.keys()):
        attrs_a, attrs_b = tree_a.get(path), tree_b.get(path)
        if attrs_a is None or attrs_b is None:
            if not below(path, missing):
                side, attrs = ("A", attrs_a) if attrs_b is None else ("B", attrs_b)
                diffs.append(f"only in {side}: {path} ({attrs['type']})")
            missing.add(path)
            continue
        if attrs_a["type"] != attrs_b["type"]:
            # The other attributes of different file types mean nothing, and
            # the children of the one that is a directory go unreported.
            diffs.append(f"{path}: type {attrs_a['type']} != {attrs_b['type']}")
            missing.add(path)
            continue
        for key in sorted(attrs_a.keys() | attrs_b.keys()):
            value_a, value_b = attrs_a.get(key), attrs_b.get(key)
            if value_a != value_b:
                diffs.append(f"{path}: {key} {show(value_a)} != {show(value_b)}")
        group_a = links_a.get(path, frozenset([path]))
        group_b = links_b.get(path, frozenset([path]))
        # One broken link shows at every path of the group: report it once.
        if group_a != group_b and not {group_a, group_b} & reported_groups:
            reported_groups |= {group_a, group_b}
            diffs.append(f"{path}: hard links {sorted(group_a)} != {sorted(group_b)}")
    return diffs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", metavar="A")
    parser.add_argument("b", metavar="B")
    parser.add_argument("--no-dir-mtime", action="store_true",
                        help="do not compare the mtimes of directories")
    args = parser.parse_args()
    for d in (args.a, args.b):
        if not os.path.isdir(d):
            parser.error(f"not a directory: {d}")
    # File names are bytes; print any that are not UTF-8 escaped, not crash.
    sys.stdout.reconfigure(errors="backslashreplace")

    diffs = compare(args.a, args.b, not args.no_dir_mtime)
    if not diffs:
        print(f"equal: {args.a} {args.b}")
        return 0
    print(f"{len(diffs)} difference(s) between A={args.a} and B={args.b}:")
    for line in diffs[:MAX_LINES]:
        print("  " + line)
    if len(diffs) > MAX_LINES:
        print(f"  ... and {len(diffs) - MAX_LINES} more")
    return 1


if __name__ == "__main__":
    sys.exit(main())
