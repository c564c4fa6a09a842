#!/bin/bash
# Builds libiscsi (1.20 or later) from a source tree and installs it under PREFIX, for the iSER conformance run
# (tests/Iser.Tests/IserTransport/LibiscsiConformanceOverIserLabTests.cs reads ISER_LIBISCSI_PREFIX).
# Debian 12's libiscsi 1.19.0 crashes in iscsi-test-cu over iSER (see IserCapableLibiscsi.cs); 1.20 fixed that.
#
#   native/lab/build-libiscsi.sh SOURCE_DIR PREFIX
#
# SOURCE_DIR: an unpacked libiscsi source tree (e.g. `git archive 1.20.3` of github.com/sahlberg/libiscsi).
# PREFIX must be visible in the lab guest: not under /tmp, /root or /run (tmpfs there), e.g. under the repository.
# Needs gcc, make, autoconf, automake, libtool, libcunit1-dev, libibverbs-dev, librdmacm-dev.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SOURCE_DIR PREFIX" >&2; exit 2; }
src=$(cd "$1" && pwd)
prefix=$2
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
case "$prefix" in /tmp/*|/root/*|/run/*) echo "PREFIX $prefix is hidden by tmpfs in the lab guest; choose another." >&2; exit 2;; esac
cd "$src"
[ -x configure ] || ./autogen.sh
./configure --prefix="$prefix" --disable-werror --disable-manpages
make -j"$(nproc)"
make install
"$prefix/bin/iscsi-test-cu" --help 2>&1 | head -n 1 || true
echo "installed in $prefix; run the lab tests with ISER_LIBISCSI_PREFIX=$prefix"
