#!/usr/bin/env bash
# CI entry to the soft-RoCE lab: installs the lab's host packages, builds (or reuses) the
# cached guest, then runs the given command inside it and exits with its exit code.
#
#   native/lab/ci-snippet.sh CMD [ARG...]
#
# For .ci/run, e.g.:
#   dotnet build tests/Iser.Tests -c Release
#   native/lab/ci-snippet.sh dotnet test tests/Iser.Tests -c Release --no-build --filter Category=Lab
#   native/lab/ci-snippet.sh native/lab/selftest.sh        # lab smoke check
# Defaults for CI: a 40-minute guest limit (LAB_TIMEOUT) unless the caller set one.
set -Eeuo pipefail
# Any command that fails under set -e says which one and where, so no failure is silent.
trap 'status=$?; printf "lab: error: line %s: \"%s\" failed (exit %s)\n" "$LINENO" "$BASH_COMMAND" "$status" >&2' ERR
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARG...]" >&2
  exit 2
fi

started=$(date +%s)
LAB_REFRESH=1 "$script_dir/build.sh" >/dev/null   # apt-get install + kernel download on first use; cached after
echo "lab: guest ready in $(( $(date +%s) - started )) s" >&2

set +e
LAB_TIMEOUT=${LAB_TIMEOUT:-2400} "$script_dir/run.sh" "$@"
rc=$?
echo "lab: '$*' exited $rc after $(( $(date +%s) - started )) s" >&2
exit $rc
