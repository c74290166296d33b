#!/usr/bin/env bash
# Import benchmark: RECORDS records (default 1,000,000) through the real pipeline (plugin
# process -> validation -> COPY staging -> merge), measuring the supervisor's wall time and
# peak resident memory, against a baseline measured in the same run: psql's \copy of the
# same lines into a bare staging table (no validation, no merge). Each is the median of three
# runs, taken in turn (since 2026-12-03: before, the first import ran once, after the three
# baseline runs; before 2026-12-02, late, the baseline too), after an untimed warm-up import,
# each from a checkpoint, on a cluster that has used each of its shared buffers once (since
# 2026-12-03, evening: bench_warm_buffers in lib.sh). Also prints a floor: the rows the import
# wrote, \copy'd into empty copies of the tables.
#
#   benchmarks/import-memory.sh [RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-1000000}
source benchmarks/lib.sh
bench_prepare bench
mkdir -p "$work/plugins/bench"
cat > "$work/plugins/bench/plugin.toml" <<TOML
name = "bench"
version = "1.0.0"
protocol = 1
exec = "run.sh"
accepts = ["*.ndjson"]
TOML
printf '#!/bin/sh\nexec cat "$2"\n' > "$work/plugins/bench/run.sh"
chmod +x "$work/plugins/bench/run.sh"
cat > "$work/provision.toml" <<TOML
[trust]
name = "Benchmark Trust"
[state]
dir = "state"
[plugins]
dirs = ["plugins"]
timeout_seconds = 3600
max_rejected = 0.0
[[schools]]
urn = "139001"
name = "Benchmark School"
[[sources]]
name = "bench"
plugin = "bench"
path = "input.ndjson"
schools = ["139001"]
TOML

echo "Generating $records records..."
python3 benchmarks/make-ndjson.py "$records" > "$work/input.ndjson"
bytes=$(stat -c %s "$work/input.ndjson")

# The daemon keeps the embedded PostgreSQL up for both measurements.
bench_start_daemon "$work/provision.toml" "$work/daemon.log"
url=$(bench_database_url "$work/state")
echo "Using every shared buffer of the new cluster once (bench_warm_buffers)..."
bench_warm_buffers "$url"

# The machine's busy CPU time so far, in hundredths of a second (every process: the server's
# backends as well as the command measured).
busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
measure() { # label, command...: prints wall seconds, peak RSS in MiB, the command's own CPU
  # seconds and the machine's busy CPU seconds while it ran
  local label=$1; shift
  local before; before=$(busy)
  /usr/bin/time -f "%e %M %U %S" -o "$work/time.txt" "$@" > "$work/$label.out" 2>&1 || { cat "$work/$label.out"; exit 1; }
  local after; after=$(busy)
  read -r secs kib user sys < "$work/time.txt"
  echo "$secs $((kib / 1024)) $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') $(awk -v a="$before" -v b="$after" 'BEGIN { printf "%.2f", (b - a) / 100 }')"
}

# The first run is measured three times, each into a database of its own (migrated before it is
# timed, with a state folder of its own so it remembers no lines), and each after one of the
# three baseline runs: a single pair moved by a third from one run of this script to the next
# on a machine whose speed changes by the minute, and the ratio with it.
first_runs=3
configs=("$work/provision.toml") urls=("$url")
# A fourth database takes a warm-up import (see below).
for n in $(seq 2 $((first_runs + 1))); do
  psql -q "$url" -c "CREATE DATABASE bench_$n" >/dev/null
  # The same configuration on that database, its folder of state beside the first's.
  { printf '[database]\nurl = "postgresql:///bench_%s?%s"\n' "$n" "${url#*\?}"
    sed 's|^dir = "state"$|dir = "state-'"$n"'"|' "$work/provision.toml"; } > "$work/provision-$n.toml"
  configs+=("$work/provision-$n.toml") urls+=("${url/\/provision\?//bench_$n?}")
  "$bin/provisionctl" --config "$work/provision-$n.toml" db migrate >/dev/null
done

# Each timed step starts from a checkpoint (untimed), after the vacuum of bench_settle: the
# pages the step before wrote are written out before this one rather than during it, and the
# WAL files from before the checkpoint are there to reuse (see the warm-up below). Only in
# this script: the other scripts' figures were taken without it.
settle() { # URL
  bench_settle "$1"
  psql -q "$1" -c "CHECKPOINT" >/dev/null
}

# The warm-up: an import into the fourth database, untimed in the ratios. The cluster is new:
# it has written no WAL yet, so the first gigabyte of it goes into files the server creates
# and fills with zeros before using them (PostgreSQL's wal_init_zero), where a running
# cluster reuses the files of the WAL before its last checkpoint. In a new cluster a
# million-record first import took 6.3-6.5 s against 5.3-5.7 s once it could reuse them
# (2026-12-03): a cost of the cluster's first minutes, not of the import.
echo "Warm-up: an untimed import into a database of its own..."
read -r warm_secs _ < <(measure warm "$bin/provisionctl" --config "${configs[$first_runs]}" import --source bench --no-evaluate)
# Dropped, so autovacuum has no million rows of it to read while the timed steps run.
psql -q "$url" -c "DROP DATABASE bench_$((first_runs + 1))" >/dev/null
settle "$url"
echo "Baseline: psql \\copy of the same lines into a bare staging table, and the first import (provisionctl import, the daemon's code path), three times each..."
psql -q "$url" -c "CREATE UNLOGGED TABLE baseline_staging (doc jsonb)" >/dev/null
copies=() firsts=() peaks=() cpus=() busies=() alones=() evaluations=()
for n in $(seq 1 $first_runs); do
  psql -q "$url" -c "TRUNCATE baseline_staging" >/dev/null
  copies+=("$(measure copy psql -q "$url" -c "\\copy baseline_staging (doc) FROM '$work/input.ndjson' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')")")
  settle "$url"
  # The import and the school's evaluation after it (which `import` does unless told not to)
  # are measured apart, so the supervisor's CPU below is the import's own; the first run's
  # time is their sum, as before.
  config=${configs[$((n - 1))]}
  read -r secs rss cpu busy < <(measure import "$bin/provisionctl" --config "$config" import --source bench --no-evaluate)
  grep -q "succeeded" "$work/import.out" || { cat "$work/import.out"; exit 1; }
  # A first run writes its new pupils and results straight into their tables (DirectWrites).
  grep -q "Written straight into their tables" "$work/import.out" || { echo "the first run wrote nothing directly:"; cat "$work/import.out"; exit 1; }
  alone=$(grep -o 'succeeded in [0-9.]* s' "$work/import.out" | grep -o '[0-9.]*' | head -1)
  read -r evaluate_secs evaluate_rss _ _ < <(measure evaluate "$bin/provisionctl" --config "$config" evaluate --school 139001)
  settle "${urls[$((n - 1))]}"
  firsts+=("$(awk -v a="$secs" -v b="$evaluate_secs" 'BEGIN { printf "%.2f", a + b }')")
  peaks+=("$(( rss > evaluate_rss ? rss : evaluate_rss ))")
  cpus+=("$cpu") busies+=("$busy") alones+=("$alone") evaluations+=("$evaluate_secs")
done
read -r copy_secs copy_rss _ copy_busy < <(bench_median "${copies[@]}")
copy_runs=$(printf '%s\n' "${copies[@]}" | cut -d' ' -f1 | paste -sd' ')
import_secs=$(bench_median "${firsts[@]}") import_only=$(bench_median "${alones[@]}")
import_cpu=$(bench_median "${cpus[@]}") import_busy=$(bench_median "${busies[@]}") evaluate_secs=$(bench_median "${evaluations[@]}")
import_rss=$(printf "%s\n" "${peaks[@]}" | sort -n | tail -1)

echo "Re-import of the unchanged input, forced (nothing may change)..."
read -r again_secs again_rss again_cpu again_busy < <(measure again "$bin/provisionctl" --config "$work/provision.toml" import --source bench --force)
grep -q "Changed: nothing" "$work/again.out" || { cat "$work/again.out"; exit 1; }
grep -q "not run again" "$work/again.out" || { echo "the unchanged re-import evaluated the school again:"; cat "$work/again.out"; exit 1; }
# Lines the first run remembered are not read again (state.dir/remembered-lines).
remembered=$(grep -o 'not read again): [0-9]*' "$work/again.out" | grep -o '[0-9]*$' || echo 0)
[[ $remembered -gt 0 ]] || { echo "the re-import read every line again:"; cat "$work/again.out"; exit 1; }

echo "Floor: the rows the import wrote, \\copy'd into empty copies of the tables (their indexes and checks only)..."
# A lower bound for any import of these records into these tables: no validation, no
# merge, no triggers or foreign keys, ids already assigned.
psql -q "$url" -c "CREATE SCHEMA floor" \
  -c "CREATE TABLE floor.pupils (LIKE public.pupils INCLUDING ALL)" \
  -c "CREATE TABLE floor.pupil_needs (LIKE public.pupil_needs INCLUDING ALL)" \
  -c "CREATE TABLE floor.results (LIKE public.results INCLUDING ALL)" \
  -c "\\copy pupils TO '$work/pupils.copy'" -c "\\copy pupil_needs TO '$work/needs.copy'" \
  -c "\\copy results TO '$work/results.copy'" >/dev/null
read -r floor_secs floor_rss _ floor_busy < <(measure floor psql -q "$url" -c "\\copy floor.pupils FROM '$work/pupils.copy'" \
  -c "\\copy floor.pupil_needs FROM '$work/needs.copy'" -c "\\copy floor.results FROM '$work/results.copy'")

# CPU: the command's own (for provisionctl, the supervisor: reading, validating, encoding)
# and the machine's while it ran (the server's backends and the plugin as well).
printf '\n%-44s %10s %12s %12s %12s\n' "" "seconds" "peak RSS MiB" "own CPU s" "machine CPU s"
printf '%-44s %10s %12s %12s %12s   median of %s\n' "psql \\copy of $records lines (baseline)" "$copy_secs" "$copy_rss" "" "$copy_busy" "$copy_runs"
printf '%-44s %10s %12s %12s %12s\n' "floor: \\copy of the written rows (indexes)" "$floor_secs" "$floor_rss" "" "$floor_busy"
printf '%-44s %10s\n' "warm-up import (untimed in the ratios)" "$warm_secs"
printf '%-44s %10s %12s %12s %12s   median of %s\n' "provisionctl import, first run" "$import_secs" "$import_rss" "" "" "${firsts[*]}"
printf '%-44s %10s %12s %12s %12s\n' "provisionctl import --force, unchanged" "$again_secs" "$again_rss" "$again_cpu" "$again_busy"
# The first run is followed by the school's evaluation (as the daemon does after an import); the
# forced one is not, as its evaluation would only repeat that one (it checks). The pipeline's own
# summary says how long the import itself took.
again_only=$(grep -o 'succeeded in [0-9.]* s' "$work/again.out" | grep -o '[0-9.]*' | head -1)
printf '%-44s %10s %12s %12s %12s   medians of %s\n' "  of which the import (first run)" "$import_only" "" "$import_cpu" "$import_busy" "${alones[*]}"
printf '%-44s %10s\n' "  of which the import (forced, unchanged)" "$again_only"
printf '%-44s %10s\n' "  lines it took as remembered, not read" "$remembered"
awk -v a="$import_secs" -v b="$copy_secs" -v n="$records" -v m="$bytes" 'BEGIN {
  printf "\nimport / \\copy time ratio: %.1fx   import rate: %.0f records/s (%.1f MB/s of NDJSON)\n", a / b, n / a, m / a / 1e6 }'
# The import without the school's evaluation after it, by the pipeline's own clock.
awk -v a="$import_only" -v b="$copy_secs" 'BEGIN { printf "import alone / \\copy time ratio: %.1fx (without the school'"'"'s evaluation)\n", a / b }'
awk -v a="$floor_secs" -v b="$copy_secs" 'BEGIN { printf "floor / \\copy time ratio: %.1fx (no import of these rows can be faster)\n", a / b }'
# Any import that validates in the supervisor and writes these rows does at least the
# supervisor's work of the first import (most of it reading and validating every line) and
# the floor's: on this machine's cores no schedule of both takes
# less than their sum shared out.
cores=$(nproc)
awk -v c="$import_cpu" -v f="$floor_busy" -v n="$cores" -v b="$copy_secs" 'BEGIN {
  printf "bound for writing straight into the tables: (%.1f s supervisor + %.1f s floor CPU) / %d cores = %.1f s, %.1fx the \\copy\n", c, f, n, (c + f) / n, (c + f) / n / b }'
# The first run's line counts the school's evaluation too, which starts once the import has
# committed: the same bound with it added is where that line stops, however well the import
# is scheduled.
awk -v c="$import_cpu" -v f="$floor_busy" -v n="$cores" -v e="$evaluate_secs" -v b="$copy_secs" 'BEGIN {
  printf "the same bound with the school'"'"'s evaluation after it: %.1f s + %.2f s = %.1f s, %.1fx the \\copy\n", (c + f) / n, e, (c + f) / n + e, ((c + f) / n + e) / b }'
awk -v a="$again_secs" -v b="$import_secs" 'BEGIN { printf "unchanged re-import / first import time ratio: %.2f\n", a / b }'
peak_rss=$(( import_rss > again_rss ? import_rss : again_rss ))
echo "Supervisor peak RSS: ${peak_rss} MiB (limit 200 MiB): $([[ $peak_rss -lt 200 ]] && echo within || echo OVER)"
