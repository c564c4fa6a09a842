#!/usr/bin/env bash
# Unpacks Debian 13 (trixie)'s libiscsi 1.20 binary packages into a private folder, for iscsi-test-cu over iSER
# (tests/Iser.Tests/IserTransport/IserCapableLibiscsi.cs finds it there). Debian 12's libiscsi 1.19.0 cannot run
# that suite over iSER (a use-after-free in its iSER teardown aborts every suite); 1.20 fixed it.
#
#   native/lab/libiscsi-trixie.sh [DEST]        (default DEST: .lab-cache/libiscsi-trixie in the repository)
#
# Nothing is installed on the machine: trixie's libiscsi needs glibc 2.38 (only for __isoc23_strtol), so trixie's
# libc6 is unpacked beside it and DEST/bin/<tool> runs <tool> with that libc's own loader; libibverbs, librdmacm,
# its rxe provider and libcunit come from this machine. Packages are checked against trixie's signed InRelease
# (gpgv with debian-archive-keyring) before they are unpacked. DEST must be visible in the lab guest: inside the
# repository (mounted there wherever it is), or outside /tmp, /root and /run (tmpfs there).
set -Eeuo pipefail
# Any command that fails under set -e says which one and where, so no failure is silent.
trap 'status=$?; printf "libiscsi-trixie: error: line %s: \"%s\" failed (exit %s)\n" "$LINENO" "$BASH_COMMAND" "$status" >&2' ERR

repo=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:-$repo/.lab-cache/libiscsi-trixie}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=trixie
packages=(libiscsi-bin libiscsi7 libc6)
tools=(iscsi-test-cu iscsi-inq iscsi-perf iscsi-ls)
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# The guest mounts the repository itself wherever it is; elsewhere /tmp, /root and /run are the guest's own tmpfs.
case "$dest" in
    "$repo"/*) ;;
    /tmp/*|/root/*|/run/*) echo "DEST $dest is hidden by tmpfs in the lab guest; choose one inside the repository." >&2; exit 2;;
esac
if [ -x "$dest/bin/iscsi-test-cu" ] && "$dest/bin/iscsi-test-cu" --help >/dev/null 2>&1; then
    echo "libiscsi from $suite already in $dest ($(cat "$dest/VERSION" 2>/dev/null))"
    exit 0
fi
for tool in curl gpgv xz dpkg-deb sha256sum; do
    command -v "$tool" >/dev/null || { echo "$tool is needed to fetch $suite's libiscsi." >&2; exit 1; }
done
[ -r "$keyring" ] || { echo "$keyring is missing (package debian-archive-keyring)." >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
get() { curl -fsS --retry 3 --max-time 300 -o "$2" "$mirror/$1"; }

get "dists/$suite/InRelease" "$work/InRelease"
gpgv --keyring "$keyring" --output "$work/Release" "$work/InRelease" 2>"$work/gpgv.log" \
    || { cat "$work/gpgv.log" >&2; echo "$suite's InRelease is not signed by a Debian archive key." >&2; exit 1; }
index=main/binary-amd64/Packages.xz
index_sum=$(awk -v f="$index" '/^SHA256:/{s=1; next} /^[^ ]/{s=0} s && $3 == f {print $1}' "$work/Release")
[ -n "$index_sum" ] || { echo "$suite's Release lists no $index." >&2; exit 1; }
get "dists/$suite/$index" "$work/Packages.xz"
echo "$index_sum  $work/Packages.xz" | sha256sum -c --quiet -
xz -dc "$work/Packages.xz" >"$work/Packages"

rm -rf "$dest"
mkdir -p "$dest/root" "$dest/bin"
versions=()
for package in "${packages[@]}"; do
    # The stanza of PACKAGE: "Filename SHA256 Version".
    read -r filename sum version < <(awk -v p="$package" '
        /^Package: / { cur = $2 } /^Filename: / { f = $2 } /^SHA256: / { s = $2 } /^Version: / { v = $2 }
        /^$/ { if (cur == p) { print f, s, v; exit } cur = "" }' "$work/Packages")
    [ -n "${filename:-}" ] || { echo "$suite has no package $package." >&2; exit 1; }
    get "$filename" "$work/$package.deb"
    echo "$sum  $work/$package.deb" | sha256sum -c --quiet -
    dpkg-deb -x "$work/$package.deb" "$dest/root"
    versions+=("$package=$version")
done
echo "${versions[*]}" >"$dest/VERSION"

lib=$dest/root/usr/lib/x86_64-linux-gnu
for tool in "${tools[@]}"; do
    cat >"$dest/bin/$tool" <<EOF
#!/bin/sh
# $tool from Debian $suite's libiscsi (${versions[*]}), run with trixie's libc through its own loader.
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib:/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu" "$dest/root/usr/bin/$tool" "\$@"
EOF
    chmod +x "$dest/bin/$tool"
done
"$dest/bin/iscsi-test-cu" --help >/dev/null 2>&1 || { echo "the unpacked iscsi-test-cu does not start." >&2; exit 1; }
echo "libiscsi from $suite in $dest (${versions[*]})"
