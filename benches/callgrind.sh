#!/usr/bin/env bash
# The core's cost per event, kept as a regression guard.
#
# Runs the simulator's 3-stage pipeline (examples/pipeline.rs: producer -> producer_consumer
# adding 1 -> consumer summing, u64 events) under callgrind at two sizes and prints the
# instructions per event: (instructions at the larger size - at the smaller) / (difference in
# events), so start-up and tear-down cancel out. Callgrind counts instructions, not time: the
# figure is the same on a loaded machine, run after run.
#
# The figures committed beside this script (benches/callgrind-figures.txt) are the bar: the
# script exits 1 when a figure rises more than 10 % above its committed value. After a change
# that makes the core cheaper (or, knowingly, dearer), record the new figures with
#   benches/callgrind.sh --update
# Without valgrind it prints a WARN line and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

FIGURES=benches/callgrind-figures.txt
TOLERANCE_PERCENT=10
UPDATE=0
[ "${1:-}" = "--update" ] && UPDATE=1

if ! command -v valgrind >/dev/null 2>&1; then
  echo "WARN: valgrind is not installed: the core cost guard (benches/callgrind.sh) is skipped"
  exit 0
fi

cargo build --release --example pipeline --features sim,std-threads --locked --quiet
BIN=target/release/examples/pipeline

# instructions EVENTS MAX_DEMAND: the total instruction count of one run.
instructions() {
  # shellcheck disable=SC2086 # $2 may carry a flag after the demand
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" $2 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

# per_event SMALL LARGE MAX_DEMAND: instructions per event, to one decimal.
per_event() {
  local small large a b
  small=$1 large=$2
  a=$(instructions "$small" "$3")
  b=$(instructions "$large" "$3")
  awk -v a="$a" -v b="$b" -v n="$((large - small))" 'BEGIN { printf "%.1f", (b - a) / n }'
}

declare -A measured
measured[max_demand_1000]=$(per_event 1000000 2000000 1000)
measured[max_demand_10]=$(per_event 100000 200000 10)
# The producer_consumer written `out.extend(events.map(..))` instead of `extend_map`.
measured[max_demand_1000_per_event_map]=$(per_event 1000000 2000000 "1000 --map")

status=0
new=""
for key in max_demand_1000 max_demand_10 max_demand_1000_per_event_map; do
  value=${measured[$key]}
  committed=$(awk -v k="$key" '$1 == k { print $2 }' "$FIGURES" 2>/dev/null || true)
  if [ -z "$committed" ]; then
    echo "$key: $value instructions per event (no committed figure)"
  else
    over=$(awk -v v="$value" -v c="$committed" -v t="$TOLERANCE_PERCENT" \
      'BEGIN { print (v > c * (1 + t / 100)) ? 1 : 0 }')
    if [ "$over" = 1 ] && [ "$UPDATE" = 0 ]; then
      echo "FAIL $key: $value instructions per event, more than $TOLERANCE_PERCENT % above the committed $committed"
      status=1
    else
      echo "$key: $value instructions per event (committed: $committed)"
    fi
  fi
  new+="$key $value"$'\n'
done

if [ "$UPDATE" = 1 ]; then
  {
    echo "# Instructions per event of the simulator's 3-stage pipeline (benches/callgrind.sh)."
    echo "# The guard fails when a figure rises more than $TOLERANCE_PERCENT % above these."
    printf '%s' "$new"
  } > "$FIGURES"
  echo "recorded in $FIGURES"
fi
exit "$status"
