# Shared by the scripts: paths, the Swift toolchain, messages.
# shellcheck shell=bash
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM="$TOP/scripts/vm/run-in-cgroup2-vm"
export NO_COLOR=1

say() { printf '\n== %s\n' "$*"; }
die() { echo "cgwarden scripts: $*" >&2; exit 1; }

# Swift lives at /opt/swift on the project's machines; it is not a Debian package.
if ! command -v swift >/dev/null 2>&1; then
    [[ -x /opt/swift/usr/bin/swift ]] || die "no Swift toolchain: install Swift 6 at /opt/swift (or put swift on PATH)"
    export PATH=/opt/swift/usr/bin:$PATH
fi

# The release build as it ships (scripts/package, scripts/image) and as the
# benchmarks measure it (scripts/bench's static build): the Swift runtime
# linked in, every function in a section of its own (-function-sections, for
# the Swift code and the C shims; the static Swift libraries come so, but for
# libswiftCore's internal functions, one section), linked by lld in the order
# of scripts/lib/hot-text.order: the code the daemon's loop and its kill path
# run first, together. The kernel maps up to 16 neighbouring pages of the
# page cache at each fault (fault-around): with the loop's code spread over
# the binary, its neighbours stayed resident and locked with it (RSS at 1,000
# groups; Docs/performance.md, "Bringing it down"). The order lists symbols:
# one the code no longer has is skipped (--no-warn-symbol-ordering), code new
# since scripts/hot-text last ran is laid out after it.
HOT_TEXT_ORDER=$TOP/scripts/lib/hot-text.order
# -z relro -z now: every relocation resolved at the start and the GOT made
# read-only, in every release build (the package, the image, the benchmarks'
# build of the daemon): the same binary is the root helper.
RELEASE_FLAGS=(-c release --static-swift-stdlib
               -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections -Xswiftc -use-ld=lld
               -Xlinker "--symbol-ordering-file=$HOT_TEXT_ORDER" -Xlinker --no-warn-symbol-ordering
               -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now)

# Dies unless BINARY was linked with full RELRO (a GNU_RELRO segment, BIND_NOW).
check_release_link() {  # BINARY
    local dynamic; dynamic=$(readelf -d "$1") || die "readelf -d $1 failed"
    [[ $dynamic == *BIND_NOW* ]] || die "$1: not linked with -z now (no BIND_NOW among its dynamic flags)"
    [[ $(readelf -lW "$1") == *GNU_RELRO* ]] || die "$1: not linked with -z relro (no GNU_RELRO segment)"
}

# Before a release build in SCRATCH_PATH of PRODUCT: what SwiftPM does not
# see. (1) The order file is no input of the link it knows of: a binary
# older than it is removed, and linked again. (2) A change of code
# generation alone (-function-sections) leaves the objects as they were: the
# frontend skips an object whose LLVM module hash (.swift_modhash) did not
# change. The flags are kept beside the build; when they differ, the objects
# go.
release_scratch() {  # SCRATCH_PATH PRODUCT
    local dir=$1/x86_64-unknown-linux-gnu/release stamp=$1/release-flags
    if [[ -d $dir && "$(cat "$stamp" 2>/dev/null)" != "${RELEASE_FLAGS[*]}" ]]; then
        find "$dir" -name '*.o' -delete
        rm -f "$dir/$2"
    fi
    mkdir -p "$1"
    printf '%s\n' "${RELEASE_FLAGS[*]}" > "$stamp"
    if [[ -e $dir/$2 && $HOT_TEXT_ORDER -nt $dir/$2 ]]; then rm -f "$dir/$2"; fi
}
