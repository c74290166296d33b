#!/usr/bin/env bash
# Import benchmark: one run of RECORDS records (default 1,000,000) through the real pipeline
# (plugin process -> validation -> COPY staging -> merge), measuring the supervisor's wall
# time and peak resident memory, against a baseline measured in the same run: psql's
# \copy of the same lines into a bare staging table (no validation, no merge). Also prints a
# floor: the rows the import wrote, \copy'd into empty copies of the tables.
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

measure() { # label, command...: prints wall seconds and peak RSS in MiB
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > "$work/$label.out" 2>&1 || { cat "$work/$label.out"; exit 1; }
  read -r secs kib < "$work/time.txt"
  echo "$secs $((kib / 1024))"
}

echo "Baseline: psql \\copy of the same lines into a bare staging table..."
psql -q "$url" -c "CREATE UNLOGGED TABLE baseline_staging (doc jsonb)" >/dev/null
read -r copy_secs copy_rss < <(measure copy psql -q "$url" -c "\\copy baseline_staging (doc) FROM '$work/input.ndjson' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')")

echo "Import through the pipeline (provisionctl import, the daemon's code path)..."
read -r import_secs import_rss < <(measure import "$bin/provisionctl" --config "$work/provision.toml" import --source bench)
grep -q "succeeded" "$work/import.out" || { cat "$work/import.out"; exit 1; }

echo "Re-import of the unchanged input, forced (nothing may change)..."
read -r again_secs again_rss < <(measure again "$bin/provisionctl" --config "$work/provision.toml" import --source bench --force)
grep -q "Changed: nothing" "$work/again.out" || { cat "$work/again.out"; exit 1; }

echo "Floor: the rows the import wrote, \\copy'd into empty copies of the tables (their indexes and checks only)..."
# A lower bound for any import of these records into these tables: no validation, no
# merge, no triggers or foreign keys, ids already assigned.
psql -q "$url" -c "CREATE SCHEMA floor" \
  -c "CREATE TABLE floor.pupils (LIKE public.pupils INCLUDING ALL)" \
  -c "CREATE TABLE floor.pupil_needs (LIKE public.pupil_needs INCLUDING ALL)" \
  -c "CREATE TABLE floor.assessments (LIKE public.assessments INCLUDING ALL)" \
  -c "\\copy pupils TO '$work/pupils.copy'" -c "\\copy pupil_needs TO '$work/needs.copy'" \
  -c "\\copy assessments TO '$work/assessments.copy'" >/dev/null
read -r floor_secs floor_rss < <(measure floor psql -q "$url" -c "\\copy floor.pupils FROM '$work/pupils.copy'" \
  -c "\\copy floor.pupil_needs FROM '$work/needs.copy'" -c "\\copy floor.assessments FROM '$work/assessments.copy'")

printf '\n%-44s %10s %12s\n' "" "seconds" "peak RSS MiB"
printf '%-44s %10s %12s\n' "psql \\copy of $records lines (baseline)" "$copy_secs" "$copy_rss"
printf '%-44s %10s %12s\n' "floor: \\copy of the written rows (indexes)" "$floor_secs" "$floor_rss"
printf '%-44s %10s %12s\n' "provisionctl import, first run" "$import_secs" "$import_rss"
printf '%-44s %10s %12s\n' "provisionctl import --force, unchanged" "$again_secs" "$again_rss"
# Both commands then evaluate the school (as the daemon does after an import); the pipeline's
# own summary says how long the import itself took.
import_only=$(grep -o 'succeeded in [0-9.]* s' "$work/import.out" | grep -o '[0-9.]*' | head -1)
again_only=$(grep -o 'succeeded in [0-9.]* s' "$work/again.out" | grep -o '[0-9.]*' | head -1)
printf '%-44s %10s\n' "  of which the import (first run)" "$import_only"
printf '%-44s %10s\n' "  of which the import (forced, unchanged)" "$again_only"
awk -v a="$import_secs" -v b="$copy_secs" -v n="$records" -v m="$bytes" 'BEGIN {
  printf "\nimport / \\copy time ratio: %.1fx   import rate: %.0f records/s (%.1f MB/s of NDJSON)\n", a / b, n / a, m / a / 1e6 }'
awk -v a="$floor_secs" -v b="$copy_secs" 'BEGIN { printf "floor / \\copy time ratio: %.1fx (no import of these rows can be faster)\n", a / b }'
awk -v a="$again_secs" -v b="$import_secs" 'BEGIN { printf "unchanged re-import / first import time ratio: %.2f\n", a / b }'
peak_rss=$(( import_rss > again_rss ? import_rss : again_rss ))
echo "Supervisor peak RSS: ${peak_rss} MiB (limit 200 MiB): $([[ $peak_rss -lt 200 ]] && echo within || echo OVER)"
