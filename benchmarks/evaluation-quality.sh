#!/usr/bin/env bash
# Quality of the evaluation against generated truth, in one table: for each seed and each
# assessment frequency (half-termly and termly schools), the stalled-pupil flag's precision,
# recall and F1 against the stalls the data can show; every other flag's precision and
# recall; and every programme's verdict beside its true effect. No pass or fail: the tests
# assert the bounds (Tests/EvaluationTests/GeneratedTrustEvaluationTests.swift).
#
#   benchmarks/evaluation-quality.sh [SEEDS...]        default seeds 1 2 3
#   PUPILS=4000 SCHOOLS=4 BUILD=release|debug benchmarks/evaluation-quality.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=("${@:-1 2 3}")
read -r -a seeds <<<"${seeds[*]}"
pupils=${PUPILS:-4000}
schools=${SCHOOLS:-4}
build=${BUILD:-release}
today=2026-11-29

scripts/install-deps >&2
swift build -c "$build" >&2
bin=$(swift build -c "$build" --show-bin-path)
work=$(mktemp -d /tmp/provision-quality.XXXXXX)
chmod 755 "$work"
[[ -n ${KEEP:-} ]] && echo "kept $work" >&2 || trap 'rm -rf "$work"' EXIT

for seed in "${seeds[@]}"; do
  dir="$work/seed-$seed"
  "$bin/provisionctl" generate --out "$dir" --pupils "$pupils" --schools "$schools" --seed "$seed" \
    --today "$today" --plugins-dir "$PWD/Plugins" >/dev/null
  "$bin/provisiond" --config "$dir/provision.toml" --once >"$dir/once.log" 2>&1 || true
  "$bin/provisionctl" --config "$dir/provision.toml" evaluate --as-of "$today" >"$dir/evaluate.log"
  "$bin/provisionctl" --config "$dir/provision.toml" alerts list --json >"$dir/alerts.json"
  "$bin/provisionctl" --config "$dir/provision.toml" report impact --format json --term 2026-autumn >"$dir/impact.json" 2>/dev/null \
    || echo '{}' >"$dir/impact.json"
done

python3 - "$work" "${seeds[@]}" <<'PY'
import json, sys, os
work, seeds = sys.argv[1], sys.argv[2:]
def score(found, true):
    hits = len(found & true)
    p = hits / len(found) if found else 1.0
    r = hits / len(true) if true else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f, len(found), len(true)
print("| seed | schools | stall precision | stall recall | F1 | flagged | detectable stalls |")
print("|---|---|---|---|---|---|---|")
others = {}
verdicts = []
for seed in seeds:
    d = os.path.join(work, "seed-" + seed)
    truth = json.load(open(os.path.join(d, "truth.json")))
    alerts = json.load(open(os.path.join(d, "alerts.json")))
    frequency = {s["urn"]: s["assessment_frequency"] for s in truth["schools"]}
    for kind in ("half-termly", "termly"):
        urns = {u for u, f in frequency.items() if f == kind}
        found = {a["upn"] for a in alerts if a["rule"] == "stalled_pupil" and a["school_urn"] in urns}
        true = {s["upn"] for s in truth["stalled_pupils"] if s["detectable"] and s["school_urn"] in urns}
        # Stalls the data cannot show are neither hits nor false alarms.
        hidden = {s["upn"] for s in truth["stalled_pupils"] if not s["detectable"]}
        p, r, f, n, t = score(found - hidden, true)
        print(f"| {seed} | {kind} | {p:.2f} | {r:.2f} | {f:.2f} | {n} | {t} |")
    for rule, key, fields in (("missing_exit_data", "missing_exit", ("upn", "provision_id")),
                              ("ehcp_provision_not_delivered", "ehcp_provision_not_delivered", ("upn",)),
                              ("need_without_provision", "need_without_provision", ("upn",))):
        found = {tuple(a.get(x) for x in fields) for a in alerts if a["rule"] == rule}
        true = {tuple(t[x] for x in fields) for t in truth[key]}
        others.setdefault(rule, []).append(score(found, true))
    effects = {p["name"]: p["true_effect_months_per_month"] for p in truth["programmes"]}
    impact = json.load(open(os.path.join(d, "impact.json")))
    for row in impact.get("programmes", []):
        verdicts.append((seed, row.get("name"), effects.get(row.get("name")), row.get("verdict"), row.get("value_added_n"),
                         row.get("value_added"), row.get("value_added_ci_low"), row.get("value_added_ci_high"), row.get("measure")))
print()
print("| flag | precision (per seed) | recall (per seed) |")
print("|---|---|---|")
for rule, scores in others.items():
    print(f"| {rule} | {' '.join(f'{s[0]:.2f}' for s in scores)} | {' '.join(f'{s[1]:.2f}' for s in scores)} |")
print()
print("| seed | programme | true effect (months a month) | value added (interval) | measure | verdict | n |")
print("|---|---|---|---|---|---|---|")
def num(x): return "–" if x is None else f"{x:.2f}"
for seed, name, effect, verdict, n, va, low, high, measure in verdicts:
    print(f"| {seed} | {name} | {effect} | {num(va)} ({num(low)} to {num(high)}) | {measure} | {verdict} | {n} |")
PY
