#!/usr/bin/env bash
# Lazy-image metadata: our format (image/metadata.h) against an EROFS image
# made by mkfs.erofs, for the same directory trees.
#
# Makes synthetic trees under --work-dir (removed at the end): N files (of
# --files, default 10000,20000) of 1-3 KiB, 50 per directory, 5 % of them
# symlinks and 2 % hard links, every file with a user.* xattr on one in ten;
# and, with --tree DIR, a real tree too (a rootfs, say). For each:
#   ours : fl_image_metadata --tree T (every chunk distinct, 1 MiB chunks):
#          metadata bytes, bytes per 10k entries, median decode time;
#   erofs: mkfs.erofs --chunksize=1048576 --blobdev=B M T (chunk-based
#          files, data on the extra device, as RAFS v6 lays it out): M's size
#          and the time to mount it (file-backed) and stat every entry.
# Prints a Markdown table and writes it to bench/results/image_metadata-<UTC>.md.
#
#   bench/image_metadata.sh [--files N[,N...]] [--tree DIR] [--work-dir DIR (/tmp)]
#                           [--build-dir DIR (build)]
# Needs root (mount), erofs-utils (scripts/install-deps) and a built
# fl_image_metadata (ninja -C build fl_image_metadata).
set -euo pipefail
cd "$(dirname "$0")/.."

cmdline="bench/image_metadata.sh${*:+ $*}"
files=10000,20000
extra_tree=""
work_parent=/tmp
build_dir=build
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files=$2; shift 2 ;;
    --tree) extra_tree=$2; shift 2 ;;
    --work-dir) work_parent=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "image_metadata: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$files" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
  { echo "image_metadata: --files takes positive integers, comma-separated" >&2; exit 2; }
tool=$build_dir/bench/fl_image_metadata
[ -x "$tool" ] || { echo "image_metadata: no $tool; ninja -C $build_dir fl_image_metadata" >&2; exit 2; }
command -v mkfs.erofs > /dev/null || { echo "image_metadata: no mkfs.erofs (erofs-utils)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "image_metadata: needs root (mount)" >&2; exit 2; }

work=$(mktemp -d "$work_parent/feilong-image-metadata.XXXXXX")
loop=""
cleanup() {
  if mountpoint -q "$work/mnt" 2>/dev/null; then umount "$work/mnt"; fi
  if [ -n "$loop" ]; then losetup -d "$loop" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

make_tree() {  # make_tree DIR N
  python3 - "$1" "$2" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
random.seed(n)
os.makedirs(root)
made = []
for i in range(n):
    d = os.path.join(root, f"pkg-{i // 2500:02d}", f"dir-{i // 50:05d}")
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, f"file-{i:06d}.{random.choice(['py', 'so', 'txt', 'json'])}")
    r = random.random()
    if r < 0.05 and made:
        os.symlink(os.path.relpath(random.choice(made), d), p)
    elif r < 0.07 and made:
        os.link(random.choice(made), p)
    else:
        with open(p, "wb") as f:
            f.write(os.urandom(random.randint(1024, 3072)))
        if i % 10 == 0:
            os.setxattr(p, "user.origin", b"feilong-bench")
        made.append(p)
PY
}

rows=()
measure() {  # measure NAME TREE
  local name=$1 tree=$2 ours entries ours_bytes per10k decode
  ours=$("$tool" --tree "$tree")
  entries=$(sed 's/^entries=\([0-9]*\).*/\1/' <<< "$ours")
  ours_bytes=$(sed 's/.*metadata_bytes=\([0-9]*\).*/\1/' <<< "$ours")
  per10k=$(sed 's/.*bytes_per_10k_entries=\([0-9]*\).*/\1/' <<< "$ours")
  decode=$(sed 's/.*decode_ms_median=\([0-9.]*\).*/\1/' <<< "$ours")
  rm -f "$work/meta.img" "$work/blob.img"
  mkfs.erofs --chunksize=1048576 --blobdev="$work/blob.img" "$work/meta.img" "$tree" > "$work/mkfs.log" 2>&1 ||
    { cat "$work/mkfs.log" >&2; echo "image_metadata: mkfs.erofs failed" >&2; exit 1; }
  local erofs_bytes erofs_per10k mount_ms
  erofs_bytes=$(stat -c %s "$work/meta.img")
  erofs_per10k=$(python3 -c "print(round($erofs_bytes * 10000 / $entries))")
  mkdir -p "$work/mnt"
  sync; echo 3 > /proc/sys/vm/drop_caches
  local t0 t1
  t0=$(date +%s.%N)
  loop=$(losetup -f --show "$work/blob.img")  # extra devices must be block devices
  mount -t erofs -o ro,device="$loop" "$work/meta.img" "$work/mnt"
  find "$work/mnt" -printf '' > /dev/null
  t1=$(date +%s.%N)
  umount "$work/mnt"
  losetup -d "$loop"
  loop=""
  mount_ms=$(python3 -c "print(f'{($t1 - $t0) * 1000:.1f}')")
  rows+=("| $name | $entries | $ours_bytes | $per10k | $decode | $erofs_bytes | $erofs_per10k | $mount_ms |")
}

IFS=, read -r -a counts <<< "$files"
for n in "${counts[@]}"; do
  echo "image_metadata: tree of $n files" >&2
  make_tree "$work/tree-$n" "$n"
  measure "synthetic, $n files" "$work/tree-$n"
  rm -rf "$work/tree-$n"
done
[ -n "$extra_tree" ] && measure "$extra_tree" "$extra_tree"

table="| tree | entries | ours: bytes | ours: bytes / 10k entries | ours: decode ms (median) | EROFS: bytes | EROFS: bytes / 10k entries | EROFS: mount + stat all, ms (cold) |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for r in "${rows[@]}"; do table+=$'\n'"$r"; done
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p bench/results
result=bench/results/image_metadata-$stamp.md
{
  echo "# image_metadata $stamp"
  echo
  echo "Command: \`$cmdline\`"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, $(uname -r)"
  echo "- mkfs.erofs: $(dpkg-query -W -f='${Version}' erofs-utils 2>/dev/null || echo unknown)"
  echo "- git HEAD: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
  echo "$table"
} > "$result"
echo "$table"
echo "image_metadata: wrote $result" >&2
