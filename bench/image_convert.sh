#!/usr/bin/env bash
# `flimage convert`: how fast it converts an OCI image, and how much a
# release series of one image takes once converted, with and without chunk
# dictionaries (issue 18). Every image is built offline with umoci from real
# files of this host (/usr/lib, /usr/bin, /usr/sbin, /usr/share,
# /usr/include, /usr/libexec), in an OCI layout under --work-dir (removed at
# the end); umoci writes gzip layers.
#
# The images: v1..vN (--versions, default 5), each three layers:
#   base     45 % of --size-mib (default 400) of host files, the same layer
#            in every version, but rebuilt in v4 (the last version if fewer):
#            the same files with other mtimes, so another layer digest and
#            the same chunks; v4 and later use the rebuilt base;
#   packages 40 % in v1, whole directories of host files; each later version
#            removes about 10 % of them and adds about 12 % new ones (so the
#            layer is new in every version, most of its files are not);
#   app      15 %: a few large files (2 MiB to 2.5 % of --size-mib) and small
#            files under /app; each later version rewrites 4 KiB in the middle
#            of 3 large files, appends 64 KiB to 2 and edits 5 small files.
# Measures:
#   1. throughput: `flimage convert oci:SRC:v1` into a fresh layout, --runs
#      times (default 3) per compression (zstd, lz4, none): median wall
#      time, user+sys CPU, peak RSS (/usr/bin/time), MB/s (10^6 B/s) of the
#      file data and of the compressed source layers, converted size (data +
#      metadata blobs) against the source layers;
#   2. dedup over the versions, sizes of distinct blobs (by digest, layers
#      only, no configs or manifests):
#      (a) the source layers of v1..vN;
#      (b) the converted blobs when every version is converted into one
#          layout with --chunk-dict naming every earlier converted version
#          (--dict previous: only the one before), data + metadata;
#      (c) the same with each version converted alone (no --chunk-dict);
#      (d) ideal: every distinct 1 MiB chunk of the files of all versions
#          compressed once with `zstd -3` (the CLI, one frame per chunk,
#          kept raw when that is not smaller), cut from the trees umoci
#          packed into each version, not from anything flimage wrote.
#      Targets (reported, not enforced): (b)/(a) <= 0.70, (b)/ideal <= 1.10.
#   Then `flimage check --source` of every version in (b) (not with --no-check).
# Prints Markdown tables and writes them to bench/results/image_convert-<UTC>.md.
#
#   bench/image_convert.sh [--size-mib MiB (400)] [--versions N (5)] [--runs N (3)]
#                          [--work-dir DIR (/tmp)] [--build-dir DIR (build)]
#                          [--dict all|previous] [--no-check] [--keep]
# --work-dir: on a tmpfs such as /dev/shm the throughput is CPU, not the
# disk; it needs about 6 x --size-mib free. --keep leaves the work directory.
# At the default size a run takes about 5 minutes on 2 cores, 3 of them umoci
# building the images.
# Needs umoci, zstd, jq, python3, /usr/bin/time and a built flimage
# (ninja -C build flimage); not root (umoci runs --rootless if not root).
set -euo pipefail
cd "$(dirname "$0")/.."

cmdline="bench/image_convert.sh${*:+ $*}"
t_start=$(date +%s)
size_mib=400 versions=5 runs=3 work_parent=/tmp build_dir=build dict_mode=all do_check=1 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mib) size_mib=$2; shift 2 ;;
    --versions) versions=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --work-dir) work_parent=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --dict) dict_mode=$2; shift 2 ;;
    --no-check) do_check=0; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "image_convert: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { echo "image_convert: [$(($(date +%s) - t_start)) s] $*" >&2; }
die() { log "$*"; exit 1; }
for v in "$size_mib" "$versions" "$runs"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { log "--size-mib, --versions and --runs take positive integers"; exit 2; }
done
[ "$size_mib" -ge 16 ] && [ "$size_mib" -le 8192 ] || { log "--size-mib takes 16 to 8192"; exit 2; }
[ "$versions" -ge 2 ] && [ "$versions" -le 20 ] || { log "--versions takes 2 to 20"; exit 2; }
[ "$runs" -le 20 ] || { log "--runs takes 1 to 20"; exit 2; }
[ "$dict_mode" = all ] || [ "$dict_mode" = previous ] || { log "--dict takes all or previous"; exit 2; }

flimage=$build_dir/src/bin/flimage/flimage
missing=()
for t in umoci zstd jq python3; do command -v "$t" > /dev/null || missing+=("$t"); done
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (package time)")
[ -x "$flimage" ] || missing+=("$flimage (ninja -C $build_dir flimage)")
if [ ${#missing[@]} -gt 0 ]; then
  log "missing: ${missing[*]}"
  exit 2
fi
[ -d "$work_parent" ] || { log "no directory $work_parent"; exit 2; }
need_kib=$((size_mib * 6 * 1024))
free_kib=$(df -Pk "$work_parent" | awk 'NR == 2 {print $4}')
[ "$free_kib" -ge "$need_kib" ] ||
  { log "$work_parent has $((free_kib / 1024)) MiB free, needs about $((need_kib / 1024)) MiB (6 x --size-mib)"; exit 2; }
rootless=()
[ "$(id -u)" -eq 0 ] || rootless=(--rootless)

work=$(mktemp -d "$work_parent/feilong-image-convert.XXXXXX")
cleanup() {
  if [ "$keep" -eq 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- helper
cat > "$work/helper.py" <<'PY'
"""Plans, fills and edits the image trees; hashes chunks for the ideal."""
import hashlib, json, os, random, shutil, stat, sys

MIB = 1 << 20
ROOTS = ["/usr/bin", "/usr/sbin", "/usr/lib", "/usr/libexec", "/usr/share", "/usr/include"]
BASE, PKGS, APP_LARGE, APP_SMALL = 0.45, 0.40, 0.10, 0.05
PKG_REMOVE, PKG_ADD = 0.10, 0.12


def scan():
    """Regular files and symlinks under ROOTS, sorted: [(path, size)]."""
    out = []
    for root in ROOTS:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            names = sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))])
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
            for name in names:
                p = os.path.join(dirpath, name)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if stat.S_ISLNK(st.st_mode):
                    out.append((p, 0))
                elif stat.S_ISREG(st.st_mode) and os.access(p, os.R_OK):
                    out.append((p, st.st_size))
    return out


def plan(path, size_mib, versions, rebuild):
    total = size_mib * MIB
    rng = random.Random(18)
    entries = scan()
    cap = max(2 * MIB, total // 32)
    # App's large files first, then the rest cut into groups of neighbouring
    # files (a package's files are neighbours), about cap/2 to cap each.
    large = [e for e in entries if 2 * MIB <= e[1] <= max(3 * MIB, APP_LARGE * total / 4)]
    rng.shuffle(large)
    app_large, got = [], 0
    for p, s in large:
        if got >= APP_LARGE * total or len(app_large) >= 24:
            break
        app_large.append(p)
        got += s
    taken = set(app_large)
    groups, cur, cur_size, cur_key = [], [], 0, None
    for p, s in entries:
        if p in taken or s > cap:
            continue
        key = "/".join(p.split("/")[:5])
        if cur and (cur_size >= cap or (key != cur_key and cur_size >= cap // 2)):
            groups.append((cur, cur_size))
            cur, cur_size = [], 0
        cur.append(p)
        cur_size += s
        cur_key = key
    if cur:
        groups.append((cur, cur_size))
    rng.shuffle(groups)

    def take(fraction):
        chosen, size = [], 0
        while size < fraction * total:
            if not groups:
                sys.exit(f"image_convert: the host has too few files under {' '.join(ROOTS)} "
                         f"for --size-mib {size_mib} and --versions {versions}")
            g = groups.pop()
            chosen.append(g)
            size += g[1]
        return chosen

    base = take(BASE)
    app_small = take(APP_SMALL)
    packages = {1: take(PKGS)}
    for v in range(2, versions + 1):
        current = list(packages[v - 1])
        rng.shuffle(current)
        removed = 0
        while current and removed < PKG_REMOVE * PKGS * total:
            removed += current.pop()[1]
        packages[v] = sorted(current + take(PKG_ADD * PKGS), key=lambda g: g[0][0])
    files = lambda gs: [p for g in gs for p in g[0]]
    doc = {
        "size_mib": size_mib, "versions": versions, "rebuild": rebuild, "cap": cap,
        "base": files(base), "app_large": app_large, "app_small": files(app_small),
        "packages": {str(v): files(gs) for v, gs in packages.items()},
    }
    with open(path, "w") as f:
        json.dump(doc, f)
    mib = lambda gs: sum(g[1] for g in gs) / MIB
    print(f"base {mib(base):.0f} MiB, packages v1 {mib(packages[1]):.0f} MiB, "
          f"app {got / MIB + mib(app_small):.0f} MiB ({len(app_large)} large files), "
          f"{len(groups)} groups left", file=sys.stderr)


def copy(src, dst, mtime):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
    else:
        shutil.copy2(src, dst)
    if mtime is not None:
        os.utime(dst, (mtime, mtime), follow_symlinks=False)


def fill(plan_path, what, dest, mtime=None):
    """Copies the plan's files for `what` (base, packages:V, app) under dest."""
    doc = json.load(open(plan_path))
    mtime = None if mtime is None else int(mtime)
    if what == "app":
        for i, p in enumerate(doc["app_large"]):
            copy(p, os.path.join(dest, "app", "data", f"{i:02d}-{os.path.basename(p)}"), mtime)
        for p in doc["app_small"]:
            copy(p, os.path.join(dest, "app", "share", p.lstrip("/")), mtime)
        return
    paths = doc["base"] if what == "base" else doc["packages"][what.split(":")[1]]
    for p in paths:
        copy(p, os.path.join(dest, p.lstrip("/")), mtime)
    if mtime is not None:
        for dirpath, _, _ in os.walk(dest):
            os.utime(dirpath, (mtime, mtime))


def edit(app_dir, version):
    """Version `version`'s edits of the app tree (made on top of the last)."""
    rng = random.Random(1000 + int(version))
    data = os.path.join(app_dir, "data")
    large = sorted(os.listdir(data))
    small = []
    for dirpath, _, names in os.walk(os.path.join(app_dir, "share")):
        for n in sorted(names):
            p = os.path.join(dirpath, n)
            if not os.path.islink(p) and 256 <= os.path.getsize(p):
                small.append(p)
    small.sort()
    for name in rng.sample(large, min(3, len(large))):
        p = os.path.join(data, name)
        size = os.path.getsize(p)
        with open(p, "r+b") as f:
            f.seek(rng.randrange(size // 4, 3 * size // 4))
            f.write(rng.randbytes(4096))
    for name in rng.sample(large, min(2, len(large))):
        with open(os.path.join(data, name), "ab") as f:
            f.write(rng.randbytes(64 * 1024))
    for p in rng.sample(small, min(5, len(small))):
        size = os.path.getsize(p)
        with open(p, "r+b") as f:
            f.seek(rng.randrange(0, size - 128))
            f.write(rng.randbytes(128))


def chunks(chunk_dir, root, chunk_size):
    """Hashes every regular file of `root` in chunk_size chunks; writes the
    chunks not in chunk_dir yet there. Prints file bytes, chunks, new ones."""
    chunk_size = int(chunk_size)
    file_bytes = refs = new = 0
    seen = set()
    for dirpath, dirnames, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode) or (st.st_nlink > 1 and (st.st_dev, st.st_ino) in seen):
                continue
            seen.add((st.st_dev, st.st_ino))
            file_bytes += st.st_size
            with open(p, "rb") as f:
                while True:
                    block = f.read(chunk_size)
                    if not block:
                        break
                    refs += 1
                    out = os.path.join(chunk_dir, hashlib.sha256(block).hexdigest())
                    if not os.path.exists(out):
                        with open(out, "wb") as g:
                            g.write(block)
                        new += 1
    print(file_bytes, refs, new)


def ideal(chunk_dir, zst_dir):
    """Distinct chunks, their bytes, and their zstd -3 bytes (raw if not smaller)."""
    n = raw = stored = 0
    for e in os.scandir(chunk_dir):
        size = e.stat().st_size
        z = os.path.getsize(os.path.join(zst_dir, e.name + ".zst"))
        n += 1
        raw += size
        stored += min(size, z)
    print(n, raw, stored)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"plan": lambda: plan(args[0], int(args[1]), int(args[2]), int(args[3])),
     "fill": lambda: fill(*args),
     "edit": lambda: edit(*args),
     "chunks": lambda: chunks(*args),
     "ideal": lambda: ideal(*args)}[cmd]()
PY
py=$(python3 -c 'import sys; print(sys.executable)')  # not a pyenv shim each call
helper() { "$py" "$work/helper.py" "$@"; }
calc() { "$py" -c "print($1)"; }
mib() { calc "f'{$1 / 1048576:.1f}'"; }

# ------------------------------------------------------- build the images
src=$work/src
rebuild=$((versions < 4 ? versions : 4))
log "planning v1..v$versions from this host's files ($size_mib MiB of files in v1; base rebuilt in v$rebuild)"
helper plan "$work/plan.json" "$size_mib" "$versions" "$rebuild"
run_umoci() {  # run_umoci ARGS...: quiet unless it fails
  umoci "$@" > "$work/umoci.log" 2>&1 || { cat "$work/umoci.log" >&2; die "umoci $* failed"; }
}
umoci init --layout "$src"
make_base() {  # make_base TAG [MTIME]
  run_umoci new --image "$src:$1"
  run_umoci unpack "${rootless[@]}" --image "$src:$1" "$work/bundle"
  helper fill "$work/plan.json" base "$work/bundle/rootfs" ${2:+"$2"}
  run_umoci repack --image "$src:$1" "$work/bundle"
  rm -rf "$work/bundle"
}
log "building the base layer"
make_base base
log "building the rebuilt base layer (same files, other mtimes)"
make_base base-rebuilt 1767225600
mkdir -p "$work/app" "$work/chunks" "$work/zst"
helper fill "$work/plan.json" app "$work/app"
declare -A file_bytes
for v in $(seq 1 "$versions"); do
  log "building v$v (packages and app layers)"
  [ "$v" -gt 1 ] && helper edit "$work/app/app" "$v"
  base_tag=base
  [ "$v" -ge "$rebuild" ] && base_tag=base-rebuilt
  run_umoci unpack "${rootless[@]}" --image "$src:$base_tag" "$work/bundle"
  helper fill "$work/plan.json" "packages:$v" "$work/bundle/rootfs"
  run_umoci repack --refresh-bundle --image "$src:v$v" "$work/bundle"
  cp -a "$work/app/app" "$work/bundle/rootfs/app"
  run_umoci repack --image "$src:v$v" "$work/bundle"
  # For the ideal: the tree umoci just packed, in 1 MiB chunks.
  read -r fb refs new < <(helper chunks "$work/chunks" "$work/bundle/rootfs" 1048576)
  file_bytes[v$v]=$fb
  log "  v$v: $(mib "$fb") MiB of files, $refs chunk references, $new distinct chunks not in earlier versions"
  rm -rf "$work/bundle"
done
t_built=$(date +%s)

manifest_of() {  # manifest_of LAYOUT TAG: path of the tagged manifest
  local d
  d=$(jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$1/index.json")
  [ -n "$d" ] || die "no tag $2 in $1"
  echo "$1/blobs/sha256/${d#sha256:}"
}
# layers LAYOUT TAG...: "digest size mediaType" of each layer of those images
layers() {
  local layout=$1 t
  shift
  for t in "$@"; do jq -r '.layers[] | "\(.digest) \(.size) \(.mediaType)"' "$(manifest_of "$layout" "$t")"; done
}
tags=()
for v in $(seq 1 "$versions"); do tags+=("v$v"); done

# ------------------------------------------------------------------ ideal
log "ideal: zstd -3 of every distinct chunk"
zstd -3 -q --no-check --no-progress -r "$work/chunks" --output-dir-flat "$work/zst" ||
  die "zstd failed"
read -r ideal_chunks ideal_raw ideal_bytes < <(helper ideal "$work/chunks" "$work/zst")
rm -rf "$work/chunks" "$work/zst"
t_ideal=$(date +%s)

# -------------------------------------------------------------- throughput
v1_layers=$(layers "$src" v1 | awk '{s += $2} END {print s}')
v1_files=${file_bytes[v1]}
declare -A wall cpu rss conv
for r in $(seq 1 "$runs"); do
  for c in zstd lz4 none; do
    log "throughput: run $r/$runs, --compression $c"
    rm -rf "$work/tp"
    /usr/bin/time -o "$work/time" -f '%e %U %S %M' \
      "$flimage" convert --no-progress --compression "$c" "oci:$src:v1" "oci:$work/tp:v1" > "$work/convert.out" 2>&1 ||
      { cat "$work/convert.out" >&2; die "flimage convert --compression $c failed"; }
    read -r e u s m < "$work/time"
    wall[$c]+="$e " cpu[$c]+="$(calc "round($u + $s, 2)") " rss[$c]+="$m "
    conv[$c]=$(layers "$work/tp" v1 | awk '{s += $2} END {print s}')
  done
done
rm -rf "$work/tp"
t_throughput=$(date +%s)
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
tp_rows=()
for c in zstd lz4 none; do
  w=$(median <<< "${wall[$c]}") u=$(median <<< "${cpu[$c]}") m=$(median <<< "${rss[$c]}")
  tp_rows+=("| conversion, --compression $c: MB/s of file data (wall) | $(calc "f'{$v1_files / $w / 1e6:.1f}'") MB/s ($(mib "$v1_files") MiB in $w s; $u s CPU, peak RSS $((m / 1024)) MiB) | — |")
  tp_rows+=("| conversion, --compression $c: MB/s of compressed source layers | $(calc "f'{$v1_layers / $w / 1e6:.1f}'") MB/s ($(mib "$v1_layers") MiB of gzip layers) | — |")
  tp_rows+=("| conversion, --compression $c: converted / source layers | $(calc "f'{${conv[$c]} / $v1_layers:.3f}'") ($(mib "${conv[$c]}") MiB data + metadata) | — |")
done

# ------------------------------------------------------------------ dedup
# (a) distinct source layers
a_bytes=$(layers "$src" "${tags[@]}" | sort -u -k1,1 | awk '{s += $2} END {print s}')
a_count=$(layers "$src" "${tags[@]}" | sort -u -k1,1 | wc -l)
# (b) one layout, chained --chunk-dict
chained=$work/chained
declare -A stored reused new_b alone_w
seen_b=""
for v in $(seq 1 "$versions"); do
  dicts=()
  if [ "$dict_mode" = all ]; then
    for j in $(seq 1 $((v - 1))); do dicts+=(--chunk-dict "oci:$chained:v$j"); done
  elif [ "$v" -gt 1 ]; then
    dicts=(--chunk-dict "oci:$chained:v$((v - 1))")
  fi
  log "chained: convert v$v into one layout${dicts[*]:+, --chunk-dict }$(printf '%s\n' "${dicts[@]}" | sed -n 's/.*:\(v[0-9]*\)$/\1/p' | xargs)"
  "$flimage" convert --no-progress "oci:$src:v$v" "oci:$chained:v$v" "${dicts[@]}" > "$work/convert.out" 2>&1 ||
    { cat "$work/convert.out" >&2; die "flimage convert v$v (chained) failed"; }
  read -r stored[v$v] reused[v$v] < <(sed -n 's/^chunks *\([0-9]*\) stored, \([0-9]*\) reused$/\1 \2/p' "$work/convert.out")
  new_b[v$v]=$(layers "$chained" "v$v" | sort -u -k1,1 | while read -r d s _; do
    grep -qx "$d" <<< "$seen_b" || echo "$s"; done | awk '{s += $1} END {print s + 0}')
  seen_b+=$'\n'$(layers "$chained" "v$v" | awk '{print $1}')
done
b_all=$(layers "$chained" "${tags[@]}" | sort -u -k1,1)
b_bytes=$(awk '{s += $2} END {print s}' <<< "$b_all")
b_meta=$(awk '$3 ~ /metadata/ {s += $2} END {print s + 0}' <<< "$b_all")
b_data=$((b_bytes - b_meta))
b_data_blobs=$(awk '$3 ~ /blob/' <<< "$b_all" | wc -l)
# What-if: the metadata blobs (stored as they are) compressed with zstd -3.
b_meta_zst=$(awk '$3 ~ /metadata/ {print $1}' <<< "$b_all" | while read -r d; do
  zstd -3 -q -c "$chained/blobs/sha256/${d#sha256:}" | wc -c; done | awk '{s += $1} END {print s + 0}')
# Chunks in the distinct data blobs of (b), from their tables (inspect).
b_chunks=$(for t in "${tags[@]}"; do "$flimage" inspect "oci:$chained:$t"; done |
  sed -n 's/^blob [0-9]* *\(sha256:[0-9a-f]*\) .* of its \([0-9]*\) chunks used$/\1 \2/p' | sort -u | awk '{s += $2} END {print s}')
# (c) every version alone
for v in $(seq 1 "$versions"); do
  log "alone: convert v$v"
  "$flimage" convert --no-progress "oci:$src:v$v" "oci:$work/alone-v$v:v$v" > "$work/convert.out" 2>&1 ||
    { cat "$work/convert.out" >&2; die "flimage convert v$v (alone) failed"; }
  alone_w[v$v]=$(layers "$work/alone-v$v" "v$v" | awk '{s += $2} END {print s}')
done
c_all=$(for v in $(seq 1 "$versions"); do layers "$work/alone-v$v" "v$v"; done | sort -u -k1,1)
c_bytes=$(awk '{s += $2} END {print s}' <<< "$c_all")
c_data_blobs=$(awk '$3 ~ /blob/' <<< "$c_all" | wc -l)
t_converted=$(date +%s)

check_note="not run (--no-check)"
if [ "$do_check" -eq 1 ]; then
  for v in $(seq 1 "$versions"); do
    log "check: oci:chained:v$v --source oci:src:v$v"
    "$flimage" check "oci:$chained:v$v" --source "oci:$src:v$v" > "$work/check.out" 2>&1 ||
      { cat "$work/check.out" >&2; die "flimage check of v$v (chained) failed"; }
  done
  check_note="every version in (b) passed \`flimage check --source\`"
fi

dict_label="every earlier version"
[ "$dict_mode" = previous ] && dict_label="the version before"
verdict() { calc "'met' if $1 <= $2 else 'NOT met'"; }
ba=$(calc "f'{$b_bytes / $a_bytes:.3f}'")
bi=$(calc "f'{$b_bytes / $ideal_bytes:.3f}'")
bdi=$(calc "f'{$b_data / $ideal_bytes:.3f}'")
ca=$(calc "f'{$c_bytes / $a_bytes:.3f}'")
if [ "$b_chunks" -eq "$ideal_chunks" ]; then
  chunk_note="(b)'s distinct data blobs hold $b_chunks chunks, exactly the $ideal_chunks distinct chunks hashed from the trees umoci packed: with the chained --chunk-dict every distinct chunk is stored once, so (b) minus metadata is the ideal by construction; the ideal row is computed independently (the zstd CLI over chunks cut from the trees umoci packed) to check flimage's compression and overhead."
else
  chunk_note="(b)'s distinct data blobs hold $b_chunks chunks, but the trees umoci packed have $ideal_chunks distinct chunks: some chunks are stored more than once (or missing)."
fi
table=$(
  echo "| measure | figure | target |"
  echo "| --- | --- | --- |"
  for r in "${tp_rows[@]}"; do echo "$r"; done
  echo "| (a) distinct source layers, v1..v$versions | $(mib "$a_bytes") MiB ($a_count gzip layers) | |"
  echo "| (b) distinct converted blobs, one layout, --chunk-dict $dict_label | $(mib "$b_bytes") MiB (data $(mib "$b_data") MiB in $b_data_blobs blobs, metadata $(mib "$b_meta") MiB) | |"
  echo "| (c) distinct converted blobs, each version alone | $(mib "$c_bytes") MiB ($c_data_blobs data blobs, $versions metadata) | |"
  echo "| (d) ideal: each distinct chunk, zstd -3, once | $(mib "$ideal_bytes") MiB ($ideal_chunks chunks, $(mib "$ideal_raw") MiB uncompressed) | |"
  echo "| (b) / (a) | $ba | <= 0.70 ($(verdict "$ba" 0.70)) |"
  echo "| (b) / ideal | $bi (data alone: $bdi) | <= 1.10 ($(verdict "$bi" 1.10)) |"
  echo "| (c) / (a) | $ca | — |"
)
versions_table=$(
  echo "| version | base layer | files, MiB | source layers, MiB (new of them) | (b) chunks stored / reused | (b) new blobs, MiB | (b) blobs it names, MiB | (c) alone, MiB |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  seen_a=""
  for v in $(seq 1 "$versions"); do
    all=$(layers "$src" "v$v")
    total=$(awk '{s += $2} END {print s}' <<< "$all")
    fresh=$(while read -r d s _; do grep -qx "$d" <<< "$seen_a" || echo "$s"; done <<< "$all" | awk '{s += $1} END {print s + 0}')
    seen_a+=$'\n'$(awk '{print $1}' <<< "$all")
    base_tag=base
    [ "$v" -ge "$rebuild" ] && base_tag=base-rebuilt
    named=$(layers "$chained" "v$v" | awk '{s += $2} END {print s}')
    echo "| v$v | $base_tag | $(mib "${file_bytes[v$v]}") | $(mib "$total") ($(mib "$fresh")) | ${stored[v$v]} / ${reused[v$v]} | $(mib "${new_b[v$v]}") | $(mib "$named") | $(mib "${alone_w[v$v]}") |"
  done
)
t_end=$(date +%s)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p bench/results
result=bench/results/image_convert-$stamp.md
fs=$(df -PT "$work_parent" | awk 'NR == 2 {print $2}')
{
  echo "# image_convert $stamp"
  echo
  echo "Command: \`$cmdline\`"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -r)"
  echo "- load average at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- work dir: $work_parent ($fs); $(umoci --version); $(zstd --version | sed 's/^\*\*\* //; s/, by.*//')"
  echo "- git HEAD: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- time: build the images $((t_built - t_start)) s, ideal $((t_ideal - t_built)) s, throughput $((t_throughput - t_ideal)) s, (b) and (c) $((t_converted - t_throughput)) s, check $((t_end - t_converted)) s"
  echo "- throughput: median of $runs runs of \`flimage convert oci:SRC:v1\` (3 layers) into an empty layout; MB = 10^6 bytes; CPU = user + sys"
  echo "- sizes: distinct blobs by digest, image layers only (data + metadata for converted images; no configs, manifests)"
  echo "- $chunk_note"
  echo "- metadata blobs are stored uncompressed: (b)'s $versions are $(mib "$b_meta") MiB, $(mib "$b_meta_zst") MiB with zstd -3"
  echo "- version table: *new blobs* are the blobs of (b) that version added; *blobs it names* is what a node with nothing cached pulls to have the whole version (every blob its manifest names, used chunks or not); *alone* is the version converted without --chunk-dict"
  echo "- check: $check_note"
  echo
  echo "$table"
  echo
  echo "$versions_table"
} > "$result"
echo "$table"
echo
echo "$versions_table"
log "$chunk_note"
log "wrote $result"
