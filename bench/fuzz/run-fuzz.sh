#!/usr/bin/env bash
# Runs every fuzz target (tests/Iser.Tests/Fuzz) with ISER_FUZZ_ITERATIONS inputs each, one test class at a time so
# each target's seconds are its own, at the lowest CPU priority. Prints inputs, seconds and failures per target and
# writes bench/results/fuzz-<date>.md.
#   bench/fuzz/run-fuzz.sh                    # ten million inputs per target
#   ISER_FUZZ_ITERATIONS=200000 bench/fuzz/run-fuzz.sh
#   ISER_FUZZ_CLASSES="ChapFuzzTests LogicalUnitFuzzTests" bench/fuzz/run-fuzz.sh   # some test classes only
set -euo pipefail
cd "$(dirname "$0")/../.."

iterations="${ISER_FUZZ_ITERATIONS:-10000000}"
# The network target makes a TCP connection and a login per input (about 50 inputs/s): capped so a run ends the same day.
network_iterations="${ISER_NETWORK_FUZZ_ITERATIONS:-$(( iterations < 100000 ? iterations : 100000 ))}"
stamp="$(date -u +%Y-%m-%d-%H%M)"
out="bench/results/fuzz-${stamp}.md"
logdir="$(mktemp -d)"
# Kept with the logs (not deleted): a run cut short still leaves what its finished targets measured.
report="${logdir}/report.tsv"
echo "logs and per-target report in ${logdir}"

nice -n 19 dotnet build -c Release tests/Iser.Tests >/dev/null

classes=(PduReaderFuzzTests TextCodecFuzzTests LoginNegotiatorFuzzTests ChapFuzzTests IserCodecFuzzTests LogicalUnitFuzzTests ScsiDataFuzzTests NetworkFuzzTests)
if [ -n "${ISER_FUZZ_CLASSES:-}" ]; then read -r -a classes <<<"$ISER_FUZZ_CLASSES"; fi
started=$(date +%s)
status=0
for class in "${classes[@]}"; do
  n="$iterations"
  [ "$class" = NetworkFuzzTests ] && n="$network_iterations"
  echo "== ${class}: ${n} inputs per target"
  if ! ISER_FUZZ_ITERATIONS="$n" ISER_FUZZ_REPORT="$report" \
       nice -n 19 dotnet test tests/Iser.Tests -c Release --no-build \
       --filter "FullyQualifiedName~Iser.Tests.Fuzz.${class}" --logger "console;verbosity=normal" >"${logdir}/${class}.log" 2>&1; then
    status=1
    echo "   FAILED: the failing input (shrunk) and its CsCheck seed are in ${logdir}/${class}.log"
  fi
done
elapsed=$(( $(date +%s) - started ))

# Report lines: target, inputs, seconds, result, outcome tally.
{
  echo "# Fuzz campaign, $(date -u '+%Y-%m-%d %H:%M') UTC"
  echo
  echo "ISER_FUZZ_ITERATIONS=${iterations} per target (network-target: ${network_iterations}); test classes: ${classes[*]}; one at a time under nice -n 19; $(nproc) CPUs, shared."
  echo "Commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src tests || echo ' (with uncommitted changes)'); total ${elapsed} s."
  echo
  echo "| target | inputs | seconds | inputs/s | failures | what the inputs led to (most frequent first) |"
  echo "|---|---:|---:|---:|---:|---|"
  while IFS=$'\t' read -r name inputs seconds result tally; do
    rate=$(awk -v n="$inputs" -v s="$seconds" 'BEGIN { printf "%.0f", (s > 0 ? n / s : n) }')
    failures=$([ "$result" = passed ] && echo 0 || echo "1 (${result})")
    echo "| ${name} | ${inputs} | ${seconds} | ${rate} | ${failures} | ${tally} |"
  done <"$report"
  echo
  echo "A failing target stops at its first failing input (after shrinking), so failures is 0 or 1 per target."
} >"$out"

printf '%-22s %12s %9s  %s\n' target inputs seconds failures
while IFS=$'\t' read -r name inputs seconds result tally; do
  printf '%-22s %12s %9s  %s\n' "$name" "$inputs" "$seconds" "$([ "$result" = passed ] && echo 0 || echo "1 ($result)")"
done <"$report"
echo "wrote ${out}"
exit $status
