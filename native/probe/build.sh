#!/bin/sh
# Builds verbs_probe from verbs_probe.c. Needs gcc and the rdma-core headers
# (Debian: libibverbs-dev librdmacm-dev). The probe only includes headers and
# calls nothing in the libraries, so it links against libc alone.
# Usage: build.sh [OUTPUT]   (default: ./verbs_probe next to this script)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/verbs_probe"}
exec gcc -std=gnu11 -Wall -Werror -O0 -o "$out" "$here/verbs_probe.c"
