#!/usr/bin/env bash
# From a dropped file to the SENCO's inbox: generates a one-school trust, runs provisiond
# with the school's provision map watched (schedule = "watch") and mail to a maildir,
# imports and evaluates everything once, then saves the provision map the way a SENCO's
# MIS would (written aside, renamed into place) with one EHCP pupil's statutory provision
# set back to "planned". That change raises ehcp_provision_not_delivered, an immediate rule,
# so a message must reach the maildir without any command. Prints the time from the rename
# to the message's arrival as its last line: `file to mailbox: N.N s` (goal: under 10 s).
#
#   benchmarks/watch-latency.sh [PUPILS]
set -euo pipefail
cd "$(dirname "$0")/.."
pupils=${1:-1500}
source benchmarks/lib.sh
bench_prepare watchbench

echo "Generating one school of $pupils pupils..."
"$bin/provisionctl" generate --out "$work/trust" --pupils "$pupils" --schools 1 --today 2026-11-29 >/dev/null
config=$work/trust/provision.toml
map=$(ls "$work"/trust/schools/*/provision-map/*.csv | head -1)
# The provision map is watched; the other sources keep their nightly schedule.
python3 - "$config" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
blocks = text.split("[[sources]]")
for i, block in enumerate(blocks):
    if 'plugin = "provision-map"' in block:
        blocks[i] = re.sub(r'schedule = "[^"]*"', 'schedule = "watch"', block)
open(path, "w").write("[[sources]]".join(blocks) + '\n[console]\nlisten = ""\n\n[daemon]\nhttp_listen = ""\nwatch_settle_seconds = 1\n')
PY
for s in $(grep -o '^name = "[a-z0-9-]*"' "$config" | cut -d'"' -f2); do
  "$bin/provisionctl" --config "$config" import --source "$s" >/dev/null 2>&1
done
"$bin/provisionctl" --config "$config" evaluate >/dev/null 2>&1
"$bin/provisionctl" --config "$config" mail flush >/dev/null 2>&1
bench_start_daemon "$config" "$work/daemon.log" 'msg="watching exports"'
maildir=$work/trust/state/mail/new
mkdir -p "$maildir"
before=$(ls "$maildir" | wc -l)

echo "Saving the provision map with one statutory provision no longer delivered..."
start=$(python3 - "$map" <<'PY'
import csv, io, os, sys, time
path = sys.argv[1]
raw = open(path, encoding="utf-8-sig", newline="").read()
rows = list(csv.reader(io.StringIO(raw)))
header, body = rows[0], rows[1:]
column = {name: i for i, name in enumerate(header)}
statutory = False
changed = None
for row in body:
    if row[column["Intervention"]]:
        statutory = row[column["Statutory (EHCP)"]] == "Yes"
    if statutory and row[column["Status"]] == "active":
        row[column["Status"]] = "planned"
        changed = row
        break
if changed is None:
    sys.exit("no active statutory provision in " + path)
out = io.StringIO()
csv.writer(out, lineterminator="\r\n").writerows([header] + body)
with open(path + ".saving", "w", encoding="utf-8-sig", newline="") as f:
    f.write(out.getvalue())
start = time.time()
os.rename(path + ".saving", path)
print(start)
PY
)
arrived=
for _ in $(seq 1 1200); do
  if (( $(ls "$maildir" | wc -l) > before )); then arrived=$(date +%s.%N); break; fi
  sleep 0.05
done
[[ -n $arrived ]] || { echo "no message within 60 s:"; tail -20 "$work/daemon.log"; exit 1; }
grep -E 'import queued by watch|job completed|mail delivered' "$work/daemon.log" | sed 's/^/  /'
awk -v a="$arrived" -v s="$start" 'BEGIN { printf "file to mailbox: %.1f s\n", a - s }'
