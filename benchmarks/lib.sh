# Sourced by the benchmark scripts (from the repository's root): what each needs before it
# measures.

# The release build and /usr/bin/time, and a work folder, removed on exit together with the
# daemon the script started ($daemon); with KEEP set the folder is kept (its path printed) to
# look into the database afterwards.
bench_prepare() { # LABEL
  scripts/install-deps
  command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
  swift build -c release >/dev/null
  bin=$PWD/.build/release
  work=$(mktemp -d "/tmp/provision-$1.XXXXXX")
  chmod 755 "$work"
  daemon=
  trap '[[ -n $daemon ]] && kill "$daemon" 2>/dev/null; wait 2>/dev/null; if [[ -n ${KEEP:-} ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi' EXIT
}

# Starts provisiond on CONFIG with its log in LOG, and waits (up to two minutes) until the log
# holds WHAT (default msg=running); stops the script with the log otherwise.
bench_start_daemon() { # CONFIG LOG [WHAT]
  "$bin/provisiond" --config "$1" 2>"$2" &
  daemon=$!
  for _ in $(seq 1 480); do grep -q "${3:-msg=running}" "$2" && return 0; sleep 0.25; done
  echo "provisiond did not start:" >&2
  cat "$2" >&2
  exit 1
}

# The URL of the embedded database of the state folder STATE; psql reads the cluster's
# generated password from its pgpass (docs/security.md).
bench_database_url() { # STATE
  local socket
  socket=$(grep -o "unix_socket_directories = '[^']*'" "$1/postgres/data/postgresql.conf" | tail -1 | cut -d"'" -f2)
  echo "postgresql:///provision?host=$socket&user=provision&passfile=$1/postgres/pgpass"
}

# The median of its arguments, each a number or a line led by one (then the whole line of
# the median number): baselines and short measurements are taken as the median of a few runs.
bench_median() { # VALUE...
  printf '%s\n' "$@" | sort -g | awk '{ line[NR] = $0 } END { print line[int((NR + 1) / 2)] }'
}

# Vacuums the database at URL, untimed, so the tables a step has just filled are not vacuumed
# by autovacuum while the next step is timed: within a minute of a million-row import or
# \copy, autovacuum read and wrote every page of those tables again, beside whatever was
# being measured then (a baseline's \copy, the next first import, an evaluation).
bench_settle() { # URL
  psql -q "$1" -c "VACUUM" >/dev/null
}

# Has the server at URL use every one of its shared buffers once, untimed, as a server that
# has run a while has. The scripts' cluster is new, and on this kind of virtual machine the
# first write to a page of memory costs 12-35 µs (docs/operations.md): until each buffer has
# been used once, the server hands out never-used ones, so every new block a step writes
# faults in fresh memory. A million-record first import given such buffers spent 2.9-3.3 s of
# the server's system time, against 0.9-1.1 s given buffers used before, and took 7.5-8.8 s
# against 5.3-6.2 s (three pairs, 2026-12-03); a \copy into a bare table cycles through a ring
# of 16 MB and hardly notices. A throwaway table a tenth larger than shared_buffers is read
# into them (pg_prewarm, shipped with PostgreSQL) and dropped, which gives its buffers back to
# be handed out first.
bench_warm_buffers() { # URL
  psql -q "$1" >/dev/null <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_prewarm;
CREATE UNLOGGED TABLE bench_buffers AS
  SELECT g, repeat('x', 200) AS filler
    FROM generate_series(1, (SELECT setting::bigint * 8192 * 11 / 10 / 240 FROM pg_settings WHERE name = 'shared_buffers')) g;
SELECT pg_prewarm('bench_buffers');
DROP TABLE bench_buffers;
SQL
}
