#!/usr/bin/env bash
# Evaluation benchmark: generates a trust of PUPILS pupils (default 60,000 in 20 schools),
# imports it, then times `provisionctl evaluate` for the whole trust against a baseline
# measured in the same run: one hand-written SQL aggregate over the same rows (a least-
# squares slope per pupil and test over all assessments, and mean gain per provision).
#
#   benchmarks/evaluate.sh [PUPILS] [SCHOOLS]
set -euo pipefail
cd "$(dirname "$0")/.."
pupils=${1:-60000}
schools=${2:-20}
scripts/install-deps
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
swift build -c release >/dev/null
bin=$PWD/.build/release
work=$(mktemp -d /tmp/provision-evalbench.XXXXXX)
chmod 755 "$work"
trap 'kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; rm -rf "$work"' EXIT

echo "Generating $pupils pupils in $schools schools..."
/usr/bin/time -f "%e" -o "$work/gen.time" "$bin/provisionctl" generate --out "$work/trust" --pupils "$pupils" --schools "$schools" --today 2026-11-29 >/dev/null
config=$work/trust/provision.toml
"$bin/provisiond" --config "$config" 2>"$work/daemon.log" &
daemon=$!
for _ in $(seq 1 120); do grep -q "running;" "$work/daemon.log" && break; sleep 0.5; done
socket=$(grep -o "unix_socket_directories = '[^']*'" "$work/trust/state/postgres/data/postgresql.conf" | tail -1 | cut -d"'" -f2)
url="postgresql:///provision?host=$socket&user=provision"

echo "Importing every source..."
/usr/bin/time -f "%e" -o "$work/import.time" bash -c "exec 2>/dev/null; for s in \$(grep -o '^name = \"[a-z0-9-]*\"' '$config' | cut -d'\"' -f2); do '$bin/provisionctl' --config '$config' import --source \$s >/dev/null || exit 1; done"
rows=$(psql -qAt "$url" -c "SELECT (SELECT count(*) FROM assessments) || ' assessments, ' || (SELECT count(*) FROM enrolments) || ' enrolments'")

echo "Baseline: one hand-written aggregate over the same rows..."
cat > "$work/baseline.sql" <<'SQL'
SELECT count(*) FROM (
  SELECT pupil_id, instrument, measure, regr_slope(value::float8, assessed_on - date '2026-11-29')
    FROM assessments WHERE assessed_on > date '2026-11-29' - 240 GROUP BY pupil_id, instrument, measure) s;
SELECT count(*) FROM (
  SELECT provision_id, avg(exit_value - entry_value) FROM enrolments GROUP BY provision_id) g;
SQL
/usr/bin/time -f "%e" -o "$work/baseline.time" psql -qAt "$url" -f "$work/baseline.sql" >/dev/null

echo "Evaluating the trust (twice: the second run must give the same flags)..."
/usr/bin/time -f "%e %M" -o "$work/eval.time" "$bin/provisionctl" --config "$config" evaluate --as-of 2026-11-29 > "$work/eval1.out"
"$bin/provisionctl" --config "$config" evaluate --as-of 2026-11-29 > "$work/eval2.out"
diff <(grep flags "$work/eval1.out") <(grep flags "$work/eval2.out") >/dev/null || { echo "second run differs"; exit 1; }

read -r eval_secs eval_kib < "$work/eval.time"
base_secs=$(cat "$work/baseline.time")
printf '\n%s pupils, %s\n' "$pupils" "$rows"
printf '%-52s %8s s\n' "generate" "$(cat "$work/gen.time")"
printf '%-52s %8s s\n' "import every source (provisionctl import)" "$(cat "$work/import.time")"
printf '%-52s %8s s\n' "baseline: hand-written SQL aggregate (psql)" "$base_secs"
printf '%-52s %8s s   peak RSS %s MiB\n' "provisionctl evaluate (whole trust)" "$eval_secs" "$((eval_kib / 1024))"
awk -v a="$eval_secs" -v b="$base_secs" 'BEGIN { printf "evaluate / baseline time ratio: %.1fx\n", a / b }'
cat "$work/eval1.out"
