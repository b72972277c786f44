# OCI images from files of this machine, offline: a root file system made of
# binaries and exactly the shared libraries ldd names for them, packed by
# umoci (Debian package) into an OCI archive that podman loads
# (`podman load -i FILE`, or `oci-archive:FILE` as an image name).
# shellcheck shell=bash

# oci_rootfs DIR: an empty root file system with Debian's merged-/usr layout
# (/lib -> usr/lib, ...), so that a library copied to the path ldd shows
# (/lib/x86_64-linux-gnu/..., /lib64/ld-linux-x86-64.so.2) lands in usr/.
oci_rootfs() {
    local r=$1 d
    rm -rf "$r"
    mkdir -p "$r"/usr/{bin,sbin,lib,lib64} "$r"/{etc,proc,sys,dev,tmp,run}
    for d in bin sbin lib lib64; do ln -s "usr/$d" "$r/$d"; done
    chmod 1777 "$r/tmp"
}

# oci_add_binary ROOTFS SRC DEST: SRC as ROOTFS/DEST (mode 0755), and every
# shared library ldd names for it at the path ldd shows (the file itself,
# symlinks resolved; the dynamic loader keeps its execute bit).
oci_add_binary() {
    local r=$1 src=$2 dest=$3 lib out
    install -D -m 0755 "$src" "$r$dest"
    out=$(ldd "$src" 2>&1) || { [[ $out == *"not a dynamic executable"* ]] && return 0; echo "$out" >&2; return 1; }
    while read -r lib; do
        [[ -e $r$lib ]] && continue
        mkdir -p "$(dirname "$r$lib")"
        cp -L --preserve=mode "$lib" "$r$lib"
    done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<< "$out")
}

# oci_libraries ROOTFS: the shared libraries in ROOTFS, one path a line.
oci_libraries() {
    (cd "$1" && find usr/lib usr/lib64 -type f -name '*.so*' | sort)
}

# oci_pack ROOTFS ARCHIVE NAME:TAG [umoci config options...]: one layer with
# ROOTFS as /, the configuration options, and ARCHIVE, an OCI archive (a tar
# of the OCI layout) whose image is named NAME:TAG (the index's ref.name,
# which podman load takes, and io.containerd.image.name, which ctr import
# takes).  Every file's time is SOURCE_DATE_EPOCH (default: the last
# commit's), so that the same inputs give the same archive.
oci_pack() {
    local r=$1 archive=$2 name=$3 ref=image layout epoch
    shift 3
    epoch=${SOURCE_DATE_EPOCH:-$(git -C "$TOP" log -1 --format=%ct 2>/dev/null || echo 0)}
    layout=$(mktemp -d "${TMPDIR:-/tmp}/oci-layout.XXXXXX")
    find "$r" -exec touch -h -d "@$epoch" {} +
    local created; created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
    umoci init --layout "$layout/l" >/dev/null
    umoci new --image "$layout/l:$ref" >/dev/null
    umoci insert --image "$layout/l:$ref" --history.created "$created" \
        --history.created_by "scripts/image" "$r" / >/dev/null
    umoci config --image "$layout/l:$ref" --created "$created" --history.created "$created" \
        --os linux --architecture "$(oci_architecture)" "$@" >/dev/null
    umoci gc --layout "$layout/l" >/dev/null
    /usr/bin/python3 - "$layout/l/index.json" "$name" <<'PY'
import json, sys
path, name = sys.argv[1], sys.argv[2]
index = json.load(open(path))
for m in index["manifests"]:
    m["annotations"] = {"org.opencontainers.image.ref.name": name, "io.containerd.image.name": name}
json.dump(index, open(path, "w"), separators=(",", ":"))
PY
    mkdir -p "$(dirname "$archive")"
    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner -C "$layout/l" -cf "$archive.tmp" .
    mv -f "$archive.tmp" "$archive"
    rm -rf "$layout"
}

oci_architecture() {
    case $(uname -m) in
        x86_64) echo amd64 ;;
        aarch64) echo arm64 ;;
        *) uname -m ;;
    esac
}
