#!/usr/bin/env bash
# The console's pages on a generated trust: generates and imports a trust (default four
# schools of 500 pupils), makes a SENCO account, starts provisiond and times 40 requests of
# each page a SENCO uses, signed in, against the same run's baseline: GET /healthz on the
# operations endpoint (one pooled connection, two small queries, no rendering). Prints the
# sign-in time (bcrypt at the shipped cost), each page's median and 95th percentile, and the
# median's ratio to the baseline's.
#
#   benchmarks/console.sh [PUPILS] [SCHOOLS]
set -euo pipefail
cd "$(dirname "$0")/.."
pupils=${1:-2000}
schools=${2:-4}
source benchmarks/lib.sh
bench_prepare consolebench

echo "Generating and importing $schools schools, $pupils pupils..."
"$bin/provisionctl" generate --out "$work/trust" --pupils "$pupils" --schools "$schools" --quiet >/dev/null
config=$work/trust/provision.toml
printf '\n[console]\nlisten = "127.0.0.1:0"\n\n[daemon]\nhttp_listen = "127.0.0.1:0"\n' >> "$config"
PROVISION_LOG_LEVEL=warning "$bin/provisiond" --config "$config" --once >/dev/null
password=$("$bin/provisionctl" --config "$config" user add senco@bench.example --role senco --school 139001 \
  | sed -n 's/^one-time password: //p')
bench_start_daemon "$config" "$work/daemon.log" "console listening"
console=$(grep -o 'msg="console listening" address=[^ ]*' "$work/daemon.log" | sed 's/.*address=//')
operations=$(grep -o 'operations endpoint listening" address=[^ ]*' "$work/daemon.log" | sed 's|.*/||')
python3 - "$console" "http://$operations/healthz" "$password" <<'PY'
import json, statistics, sys, time, urllib.error, urllib.parse, urllib.request
from http.cookiejar import CookieJar

console, healthz, password = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *arguments, **keywords):
        return None


opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), NoRedirect)


def fetch(url, data=None):
    started = time.perf_counter()
    try:
        response = opener.open(url, data=data)
        body, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        body, status = error.read(), error.code
    return (time.perf_counter() - started) * 1000, status, body


def timings(url, n=40):
    times = []
    for _ in range(n):
        elapsed, status, _ = fetch(url)
        if status != 200:
            sys.exit("%s answered %d" % (url, status))
        times.append(elapsed)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


elapsed, status, _ = fetch(console + "/login", urllib.parse.urlencode({"email": "senco@bench.example", "password": password}).encode())
if status != 303:
    sys.exit("sign-in answered %d" % status)
print("sign-in (bcrypt cost 12): %.0f ms" % elapsed)
alerts = json.loads(fetch(console + "/api/v1/schools/139001/alerts")[2])
upn = next(alert["upn"] for alert in alerts if alert.get("upn"))
provision = json.loads(fetch(console + "/api/v1/schools/139001/provisions")[2])["provisions"][0]["provision_id"]
baseline, baseline95 = timings(healthz)
print("baseline GET /healthz: median %.1f ms, p95 %.1f ms" % (baseline, baseline95))
for name, path in [("dashboard", "/schools/139001"), ("provision map", "/schools/139001/provisions"),
                   ("pupil page", "/pupils/" + upn), ("intervention page", "/schools/139001/provisions/" + provision),
                   ("API alerts", "/api/v1/schools/139001/alerts"), ("impact report", "/schools/139001/reports/impact")]:
    median, p95 = timings(console + path)
    print("%-18s median %6.1f ms  p95 %6.1f ms  page / baseline ratio: %.1fx" % (name, median, p95, median / baseline))
PY
