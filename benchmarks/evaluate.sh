#!/usr/bin/env bash
# Evaluation and reports benchmark: generates a trust of PUPILS pupils (default 60,000 in
# 20 schools), imports it, then times `provisionctl evaluate` for the whole trust (every
# school; nothing changed; one school changed; --full twice) against a baseline measured in
# the same run: one hand-written SQL aggregate over the same rows (a least-squares slope per
# pupil and test over every result the growth model reads, and mean gain per provision).
# The whole-trust figure and the baseline are each the median of three runs (since
# 2026-12-02, late: before, one run of each).
# Until 2026-12-01 the baseline took only the last 240 days' results (evaluation v1's stall
# window, 39% of the rows); it is still timed and printed, for comparison with older runs.
# Then times the reports against `psql \copy` of the rows they show.
#
#   benchmarks/evaluate.sh [PUPILS] [SCHOOLS]
set -euo pipefail
cd "$(dirname "$0")/.."
pupils=${1:-60000}
schools=${2:-20}
source benchmarks/lib.sh
bench_prepare evalbench

echo "Generating $pupils pupils in $schools schools..."
/usr/bin/time -f "%e" -o "$work/gen.time" "$bin/provisionctl" generate --out "$work/trust" --pupils "$pupils" --schools "$schools" --today 2026-11-29 >/dev/null
config=$work/trust/provision.toml
printf '\n[daemon]\nhttp_listen = ""\n\n[console]\nlisten = ""\n' >> "$config"
bench_start_daemon "$config" "$work/daemon.log"
url=$(bench_database_url "$work/trust/state")
bench_warm_buffers "$url"

echo "Importing every source through provisiond (provisionctl enqueue --all-sources)..."
# As a trust runs it: the daemon's workers import, and each school is evaluated once its
# imports are done. Finished when no import and no school's evaluation is waiting or
# running (the trust-wide evaluation waits daemon.trust_evaluation_delay_seconds).
import_start=$(date +%s.%N)
"$bin/provisionctl" --config "$config" enqueue --all-sources >/dev/null
while :; do
  left=$(psql -qAt "$url" -c "SELECT count(*) FROM jobs WHERE state IN ('available', 'running') AND (kind = 'import' OR payload ? 'school')")
  [[ $left == 0 ]] && break
  sleep 0.2
done
import_end=$(date +%s.%N)
failed=$(psql -qAt "$url" -c "SELECT count(*) FROM jobs WHERE state IN ('failed', 'discarded')")
[[ $failed == 0 ]] || { echo "$failed job(s) failed:"; grep -E 'level=(error|warning)' "$work/daemon.log" | tail -5; exit 1; }
# Schools' evaluations due together with no import left are done by one trust run
# (docs/operations.md), so both kinds are counted.
school_evaluations=$(psql -qAt "$url" -c "SELECT count(*) FILTER (WHERE school_id IS NOT NULL) || ' of one school, ' || count(*) FILTER (WHERE school_id IS NULL) || ' of the trust' FROM evaluation_runs")
awk -v a="$import_start" -v b="$import_end" 'BEGIN { printf "%.2f\n", b - a }' > "$work/import.time"
rows=$(psql -qAt "$url" -c "SELECT (SELECT count(*) FROM results) || ' assessments, ' || (SELECT count(*) FROM enrolments) || ' enrolments'")
# What the import filled is vacuumed now, untimed, not by autovacuum during the figures below.
bench_settle "$url"

echo "Baseline: one hand-written aggregate over the same rows..."
# The rows the growth model reads: every result of every pupil on roll, up to the day evaluated,
# by pupil and test (since migration 32 the table names the test by its id; before, the
# aggregate grouped by the test's three names in the table).
cat > "$work/baseline.sql" <<'SQL'
SELECT count(*) FROM (
  SELECT a.pupil_id, a.test_id, regr_slope(a.value::float8, a.assessed_on - date '2026-11-29')
    FROM results a JOIN pupils p ON p.id = a.pupil_id
   WHERE p.on_roll AND a.assessed_on <= date '2026-11-29' GROUP BY a.pupil_id, a.test_id) s;
SELECT count(*) FROM (
  SELECT provision_id, avg(exit_value - entry_value) FROM enrolments GROUP BY provision_id) g;
SQL
# Three times: one run of a 0.4 s query moved by a quarter from run to run, and the ratio
# with it. The median is the baseline.
for n in 1 2 3; do
  /usr/bin/time -f "%e" -o "$work/baseline$n.time" psql -qAt "$url" -f "$work/baseline.sql" >/dev/null
done
base_runs="$(cat "$work/baseline1.time") $(cat "$work/baseline2.time") $(cat "$work/baseline3.time")"
# shellcheck disable=SC2086
bench_median $base_runs > "$work/baseline.time"
# Evaluation v1's baseline: the last 240 days' results only.
cat > "$work/baseline-v1.sql" <<'SQL'
SELECT count(*) FROM (
  SELECT a.pupil_id, t.instrument, t.measure, regr_slope(a.value::float8, a.assessed_on - date '2026-11-29')
    FROM results a JOIN result_tests t ON t.id = a.test_id
   WHERE a.assessed_on > date '2026-11-29' - 240 GROUP BY a.pupil_id, t.instrument, t.measure) s;
SELECT count(*) FROM (
  SELECT provision_id, avg(exit_value - entry_value) FROM enrolments GROUP BY provision_id) g;
SQL
/usr/bin/time -f "%e" -o "$work/baseline-v1.time" psql -qAt "$url" -f "$work/baseline-v1.sql" >/dev/null

echo "Floor: psql \\copy of the results the growth model reads (every on-roll pupil's, in any order)..."
# A lower bound for the evaluation: the stall rule judges each pupil on all their results.
/usr/bin/time -f "%e" -o "$work/floor.time" psql -qAt "$url" -c "\\copy (SELECT a.pupil_id, a.test_id, a.assessed_on, a.value FROM results a JOIN pupils p ON p.id = a.pupil_id WHERE p.on_roll) TO '/dev/null'" >/dev/null

echo "Evaluating the trust: every school, then nothing changed, then one school changed, then --full..."
# The daemon evaluated each school as of today; as of the generator's day, every school is
# evaluated again: the cold figure.
/usr/bin/time -f "%e %M" -o "$work/eval.time" "$bin/provisionctl" --config "$config" evaluate --as-of 2026-11-29 --timings > "$work/eval1.out"
# Nothing changed: every school's results are carried over (the steady state between imports).
/usr/bin/time -f "%e" -o "$work/eval2.time" "$bin/provisionctl" --config "$config" evaluate --as-of 2026-11-29 --timings > "$work/eval2.out"
diff <(grep "^  flags:" "$work/eval1.out") <(grep "^  flags:" "$work/eval2.out") >/dev/null || { echo "the run with nothing changed differs"; exit 1; }
# One school's data changes (a statement any import might run): that school alone is evaluated.
psql -qAt "$url" -c "UPDATE results SET value = value WHERE ctid = (SELECT a.ctid FROM results a JOIN schools s ON s.id = a.school_id WHERE s.urn = '139001' LIMIT 1)" >/dev/null
/usr/bin/time -f "%e" -o "$work/eval3.time" "$bin/provisionctl" --config "$config" evaluate --as-of 2026-11-29 --timings > "$work/eval3.out"
# Every school again, with the first run's alerts open.
/usr/bin/time -f "%e" -o "$work/eval4.time" "$bin/provisionctl" --config "$config" evaluate --as-of 2026-11-29 --full > "$work/eval4.out"
diff <(grep "^  flags:" "$work/eval1.out") <(grep "^  flags:" "$work/eval4.out") >/dev/null || { echo "--full differs from the first run"; exit 1; }
# Once more, for the median of three whole-trust evaluations (the first and both --full).
/usr/bin/time -f "%e" -o "$work/eval5.time" "$bin/provisionctl" --config "$config" evaluate --as-of 2026-11-29 --full > "$work/eval5.out"

read -r eval_first eval_kib < "$work/eval.time"
eval_runs="$eval_first $(cat "$work/eval4.time") $(cat "$work/eval5.time")"
# shellcheck disable=SC2086
eval_secs=$(bench_median $eval_runs)
base_secs=$(cat "$work/baseline.time")
printf '\n%s pupils, %s\n' "$pupils" "$rows"
printf '%-52s %8s s\n' "generate" "$(cat "$work/gen.time")"
printf '%-52s %8s s\n' "import every source via provisiond (evaluations: $school_evaluations)" "$(cat "$work/import.time")"
printf '%-52s %8s s   median of %s\n' "baseline: hand-written SQL aggregate (psql)" "$base_secs" "$base_runs"
printf '%-52s %8s s\n' "v1 baseline: the same over the last 240 days only" "$(cat "$work/baseline-v1.time")"
printf '%-52s %8s s\n' "floor: psql \\copy of the results the model reads" "$(cat "$work/floor.time")"
printf '%-52s %8s s   peak RSS %s MiB   median of %s (first, --full, --full)\n' "provisionctl evaluate (whole trust)" "$eval_secs" "$((eval_kib / 1024))" "$eval_runs"
printf '%-52s %8s s   %s\n' "provisionctl evaluate again, nothing changed" "$(cat "$work/eval2.time")" "$(grep -o '[0-9]* evaluated, [0-9]* unchanged' "$work/eval2.out")"
printf '%-52s %8s s   %s\n' "provisionctl evaluate after one school's data changed" "$(cat "$work/eval3.time")" "$(grep -o '[0-9]* evaluated, [0-9]* unchanged' "$work/eval3.out")"
printf '%-52s %8s s\n' "provisionctl evaluate --full (its alerts open)" "$(cat "$work/eval4.time")"
awk -v a="$eval_secs" -v b="$base_secs" 'BEGIN { printf "evaluate / baseline time ratio: %.1fx\n", a / b }'
awk -v a="$eval_secs" -v b="$(cat "$work/baseline-v1.time")" 'BEGIN { printf "evaluate / v1 baseline time ratio: %.1fx (the ratio runs before 2026-12-01 printed)\n", a / b }'
awk -v a="$(cat "$work/floor.time")" -v b="$base_secs" 'BEGIN { printf "floor / baseline time ratio: %.1fx (reading alone, before any judging or writing)\n", a / b }'
awk -v a="$(cat "$work/eval2.time")" -v b="$base_secs" 'BEGIN { printf "evaluate (nothing changed) / baseline time ratio: %.1fx\n", a / b }'
awk -v a="$(cat "$work/eval3.time")" -v b="$base_secs" 'BEGIN { printf "evaluate (one school changed) / baseline time ratio: %.1fx\n", a / b }'
cat "$work/eval1.out"
grep "^  steps:" "$work/eval3.out" | sed 's/^  steps:/  steps (one school changed):/'

echo
echo "Reports (autumn 2026), against psql \\copy of the rows they show..."
cat > "$work/report-baseline.sql" <<'SQL'
\copy (SELECT s.urn, pr.*, e.*, p.upn, p.forename, p.surname, p.year_group FROM provisions pr JOIN schools s ON s.id = pr.school_id LEFT JOIN enrolments e ON e.provision_id = pr.id LEFT JOIN pupils p ON p.id = e.pupil_id WHERE coalesce(pr.start_date, '2026-09-01') <= '2026-12-31' AND coalesce(pr.end_date, '2026-12-31') >= '2026-09-01') TO '/dev/null' CSV HEADER
SQL
/usr/bin/time -f "%e" -o "$work/report-baseline.time" psql -qAt "$url" -f "$work/report-baseline.sql" >/dev/null
report_base=$(cat "$work/report-baseline.time")
printf '%-52s %8s s\n' "baseline: psql \\copy of the term's provision rows" "$report_base"
for args in "provision-map --school 139001" "impact" "needs" "costs" "trust"; do
  name=${args%% *}
  /usr/bin/time -f "%e %M" -o "$work/report.time" "$bin/provisionctl" --config "$config" report $args --term 2026-autumn --out "$work/$name.html" 2>/dev/null
  read -r secs kib < "$work/report.time"
  printf '%-52s %8s s   %5d KiB HTML   peak RSS %s MiB   ratio %s\n' "report $args (whole trust unless a school)" "$secs" \
    "$(( $(stat -c %s "$work/$name.html") / 1024 ))" "$((kib / 1024))" "$(awk -v a="$secs" -v b="$report_base" 'BEGIN { printf "%.1fx", a / b }')"
done
