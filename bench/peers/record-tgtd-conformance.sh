#!/usr/bin/env bash
# Records tgtd's libiscsi conformance figures (every family the peer tests use, plus the whole suite, i.e. the
# ALL family) by running the TgtdConformanceRecord tests with ISER_PEER_RECORD set, and writes them to
# bench/results/tgtd-conformance.md (or the file given as $1). tgtd is the yardstick, not under test.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-bench/results/tgtd-conformance.md}
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT

dotnet build tests/Iser.Tests -c Release </dev/null
ISER_PEER_RECORD="$rows" dotnet test tests/Iser.Tests -c Release --no-build \
    --filter "FullyQualifiedName~Iser.Tests.Peers.TgtdConformanceRecord" </dev/null

{
    echo "# tgtd against libiscsi's iscsi-test-cu"
    echo
    echo "Recorded $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/peers/record-tgtd-conformance.sh\`"
    echo "(tests/Iser.Tests/Peers/TgtdConformanceRecord.cs). tgt $(dpkg-query -W -f='${Version}' tgt), libiscsi-bin"
    echo "$(dpkg-query -W -f='${Version}' libiscsi-bin). Each family runs on a fresh tgtd with one 64 MiB file LUN in"
    echo "/dev/shm (LUN 1), \`iscsi-test-cu --dataloss -i IQN -I IQN2 --test=FAMILY URL\`."
    echo
    echo "Columns: *ran* = CUnit tests run; *passed* = passed without skipping; *failed* = CUnit failures;"
    echo "*skipped* = tests that printed [SKIPPED] (libiscsi counts them as passed); *failed asserts*/asserts run."
    echo "The last row, ALL, is the whole suite: every suite once (a run with no --test repeats most suites under"
    echo "the SCSI, iSCSI and LINUX families as well)."
    echo
    echo "| family | ran | passed | failed | skipped | failed asserts | failed tests | skipped (reason: tests) |"
    echo "|---|---:|---:|---:|---:|---:|---|---|"
    grep -v '^| ALL ' "$rows" | sort
    grep '^| ALL ' "$rows" || true
    echo
    echo "Asked for but absent from libiscsi 1.19's iscsi-test-cu (\`iscsi-test-cu --list\`): SCSI.ReportLUNs,"
    echo "iSCSI.iSCSINop, iSCSI.iSCSISendTargets. REPORT LUNS and SendTargets are exercised by iscsi-ls in the peer tests."
} > "$out"
echo "Wrote $out"
