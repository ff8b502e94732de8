#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds, and runs the main job.
# Until the end-to-end round lands, the main job is the machine report: `murmur info`, the
# memory-bandwidth probe and the aggregation benchmark against it. The report is written to
# ${MURMUR_REPORT_DIR:-reports}/demo.txt as well.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
BUILD_DIR=${MURMUR_BUILD_DIR:-build}
REPORT_DIR=${MURMUR_REPORT_DIR:-reports}
mkdir -p "$REPORT_DIR"
report="$REPORT_DIR/demo.txt"
{
  echo "== murmur info"
  "$BUILD_DIR/client/murmur" info
  echo
  echo "== bandwidth probe"
  "$BUILD_DIR/bench/bandwidth" --benchmark_min_time=0.2
  echo
  echo "== weighted sum (FedAvg) against the probe"
  "$BUILD_DIR/bench/aggregate" --benchmark_min_time=0.2 --benchmark_filter='D:1000000/'
} 2>&1 | tee "$report"
echo
echo "Report written to $report"
