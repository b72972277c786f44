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
