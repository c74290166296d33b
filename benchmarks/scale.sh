#!/usr/bin/env bash
# How the cost grows with the deployment: generates a trust of 100,000 pupils (20 schools)
# and one of 1,000,000 (200 schools), imports every source of each (without the per-school
# evaluation, which evaluate.sh measures), imports them all again forced (the nightly case:
# nothing changed) and evaluates each whole, then prints import and
# evaluation time and peak memory side by side with the growth ratio (10× the pupils:
# linear growth is a ratio of 10).
#
#   benchmarks/scale.sh [SMALL_PUPILS SMALL_SCHOOLS LARGE_PUPILS LARGE_SCHOOLS]
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-100000}; small_schools=${2:-20}
large=${3:-1000000}; large_schools=${4:-200}
source benchmarks/lib.sh
bench_prepare scale

run() { # label pupils schools: prints "import_s import_peak_mib eval_s eval_peak_mib assessments"
  local label=$1 pupils=$2 schools=$3 dir=$work/$1
  "$bin/provisionctl" generate --out "$dir" --pupils "$pupils" --schools "$schools" --today 2026-11-29 >/dev/null
  local config=$dir/provision.toml
  printf '\n[daemon]\nhttp_listen = ""\n\n[console]\nlisten = ""\n' >> "$config"
  bench_start_daemon "$config" "$dir/daemon.log"
  bench_warm_buffers "$(bench_database_url "$dir/state")"
  local start peak=0 end
  start=$(date +%s.%N)
  for s in $(grep -o '^name = "[a-z0-9-]*"' "$config" | cut -d'"' -f2); do
    /usr/bin/time -f "%M" -o "$dir/import.rss" "$bin/provisionctl" --config "$config" import --source "$s" --no-evaluate --quiet \
      >/dev/null 2>&1 || { echo "import of $s failed" >&2; exit 1; }
    local rss; rss=$(tail -1 "$dir/import.rss"); (( rss > peak )) && peak=$rss
  done
  end=$(date +%s.%N)
  bench_settle "$(bench_database_url "$dir/state")"
  # The nightly case: every source exported again with nothing changed (forced, since the
  # files are byte for byte the same).
  local again_start again_end again_peak=0
  again_start=$(date +%s.%N)
  for s in $(grep -o '^name = "[a-z0-9-]*"' "$config" | cut -d'"' -f2); do
    /usr/bin/time -f "%M" -o "$dir/import.rss" "$bin/provisionctl" --config "$config" import --source "$s" --force --no-evaluate --quiet \
      >"$dir/again.out" 2>&1 || { echo "forced import of $s failed" >&2; exit 1; }
    grep -q "Changed: nothing" "$dir/again.out" || { echo "forced import of $s changed something" >&2; cat "$dir/again.out" >&2; exit 1; }
    local rss; rss=$(tail -1 "$dir/import.rss"); (( rss > again_peak )) && again_peak=$rss
  done
  again_end=$(date +%s.%N)
  bench_settle "$(bench_database_url "$dir/state")"
  /usr/bin/time -f "%e %M" -o "$dir/eval.time" "$bin/provisionctl" --config "$config" evaluate --as-of 2026-11-29 --timings \
    > "$dir/eval.out" 2>/dev/null
  local eval_s eval_kib; read -r eval_s eval_kib < "$dir/eval.time"
  local assessments; assessments=$(psql -qAt "$(bench_database_url "$dir/state")" -c "SELECT count(*) FROM results")
  kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=
  grep "steps:" "$dir/eval.out" | sed "s/^/  $label /" >&2
  rm -rf "$dir/schools"
  awk -v s="$start" -v e="$end" -v p="$peak" -v es="$eval_s" -v ek="$eval_kib" -v a="$assessments" \
    -v as="$again_start" -v ae="$again_end" -v ap="$again_peak" \
    'BEGIN { printf "%.1f %d %.2f %d %d %.1f %d\n", e - s, p / 1024, es, ek / 1024, a, ae - as, ap / 1024 }'
}

echo "Small deployment: $small pupils in $small_schools schools..."
read -r si sim se sem sa sr srm < <(run small "$small" "$small_schools")
echo "Large deployment: $large pupils in $large_schools schools..."
read -r li lim le lem la lr lrm < <(run large "$large" "$large_schools")

printf '\n%-40s %14s %14s %8s\n' "" "$small pupils" "$large pupils" "growth"
printf '%-40s %14s %14s %8s\n' "assessments" "$sa" "$la" "$(awk -v a="$la" -v b="$sa" 'BEGIN { printf "%.1fx", a / b }')"
printf '%-40s %12s s %12s s %8s\n' "import of every source (no evaluation)" "$si" "$li" "$(awk -v a="$li" -v b="$si" 'BEGIN { printf "%.1fx", a / b }')"
printf '%-40s %10s MiB %10s MiB %8s\n' "import peak RSS (largest source)" "$sim" "$lim" "$(awk -v a="$lim" -v b="$sim" 'BEGIN { printf "%.1fx", a / b }')"
printf '%-40s %12s s %12s s %8s\n' "re-import of every source, nothing changed" "$sr" "$lr" "$(awk -v a="$lr" -v b="$sr" 'BEGIN { printf "%.1fx", a / b }')"
printf '%-40s %10s MiB %10s MiB %8s\n' "re-import peak RSS (largest source)" "$srm" "$lrm" "$(awk -v a="$lrm" -v b="$srm" 'BEGIN { printf "%.1fx", a / b }')"
printf '%-40s %12s s %12s s %8s\n' "provisionctl evaluate (whole trust)" "$se" "$le" "$(awk -v a="$le" -v b="$se" 'BEGIN { printf "%.1fx", a / b }')"
printf '%-40s %10s MiB %10s MiB %8s\n' "evaluate peak RSS" "$sem" "$lem" "$(awk -v a="$lem" -v b="$sem" 'BEGIN { printf "%.1fx", a / b }')"
