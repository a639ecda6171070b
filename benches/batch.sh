#!/usr/bin/env bash
# Throughput and memory of `iris-cli batch --local` (the embedded emulator, same process).
#
#   benches/batch.sh [ROWS=1000000] [RUNS=3]
#
# Builds the release binary (honours CARGO_TARGET_DIR), generates ROWS-row and 100 000-row CSVs
# from payloads/iris.csv (id + 4 features), then prints:
#   - rows/s at --rows-per-request 1 and 100 on ROWS rows (median of RUNS runs, wall time),
#   - peak RSS (VmHWM, sampled from /proc every 20 ms, and the kernel's own max RSS of the
#     process) at 100 000 and ROWS rows, --rows-per-request 100.
# Every run must exit 0 and write ROWS+1 lines, or the script fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
RUNS=${2:-3}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet
BIN="$TARGET/release/iris-cli"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

gen() { # gen N FILE
  python3 - "$1" "$2" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
rows = [",".join(l.strip().split(",")[:4]) for l in open("payloads/iris.csv").read().splitlines()[1:]]
with open(path, "w") as f:
    f.write("id,sepal_length,sepal_width,petal_length,petal_width\n")
    for i in range(n):
        f.write(f"r{i},{rows[i % len(rows)]}\n")
PY
}
gen "$ROWS" "$WORK/big.csv"
gen 100000 "$WORK/100k.csv"

# run FILE RPR CONC -> prints "seconds peak_kib"
run() {
  local file=$1 rpr=$2 conc=$3 out="$WORK/out.csv"
  rm -f "$out" "$out".*
  local start end pid peak=0 hwm
  start=$(date +%s.%N)
  "$BIN" batch --local "$file" --features 2,3,4,5 --rows-per-request "$rpr" \
    --concurrency "$conc" --out "$out" -q &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [[ -n "$hwm" && "$hwm" -gt "$peak" ]] && peak=$hwm
    sleep 0.02
  done
  wait "$pid"
  end=$(date +%s.%N)
  local lines
  lines=$(wc -l < "$out")
  local want=$(( $(wc -l < "$file") ))
  if [[ "$lines" -ne "$want" ]]; then
    echo "run on $file wrote $lines lines, expected $want" >&2
    exit 1
  fi
  echo "$(echo "$end - $start" | bc -l) $peak"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "iris-cli batch --local, $ROWS rows, median of $RUNS runs ($(nproc) cores)"
for spec in "1 32" "100 8"; do
  set -- $spec
  times=()
  for _ in $(seq "$RUNS"); do
    r=$(run "$WORK/big.csv" "$1" "$2")
    times+=("${r%% *}")
  done
  med=$(printf '%s\n' "${times[@]}" | median)
  printf 'rows-per-request %-4s concurrency %-3s %10.0f rows/s  (runs: %s s)\n' \
    "$1" "$2" "$(echo "$ROWS / $med" | bc -l)" "${times[*]}"
done
for f in 100k big; do
  r=$(run "$WORK/$f.csv" 100 8)
  printf 'peak RSS, %-8s rows, rows-per-request 100: %6.1f MB\n' \
    "$(( $(wc -l < "$WORK/$f.csv") - 1 ))" "$(echo "${r##* } / 1024" | bc -l)"
done
