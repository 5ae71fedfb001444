#!/usr/bin/env bash
# Prepares what `make test` needs on this machine and prints the variables
# the tests read, as export lines: PostgreSQL and Redis (the servers named by
# REGIE_TEST_DATABASE_URL / REGIE_TEST_REDIS_URL, or the ones on the default
# ports, or throwaway ones started here, installing the Debian packages when
# root), a C compiler for the race detector, pdftotext for the PDF tests, and
# versitygw (an S3 server, go-installed) for the S3 tests, Chromium and
# axe-core for the browser tests, and redis-server and haproxy for the
# fault and load-balancer tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/lib.sh
data=.data/test
mkdir -p "$data"

# C compiler: the race detector needs cgo.
command -v gcc >/dev/null || apt_install gcc libc6-dev
# PDF text checks.
command -v pdftotext >/dev/null || apt_install poppler-utils

# PostgreSQL client (to probe) and server.
command -v psql >/dev/null || apt_install postgresql-client
db=${REGIE_TEST_DATABASE_URL:-}
if [ -z "$db" ]; then
  db="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
  if ! pg_usable "$db"; then
    start_cluster "$data/postgres" 55432
    db="postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable"
  fi
fi
pg_usable "$db" || die "cannot use PostgreSQL at $db (needs a role that may create databases)"
echo "export REGIE_TEST_DATABASE_URL='$db'"

# Redis.
rd=${REGIE_TEST_REDIS_URL:-}
if [ -z "$rd" ]; then
  if port_open 6379; then
    rd="redis://127.0.0.1:6379/0"
  else
    command -v redis-server >/dev/null || apt_install redis-server
    if ! port_open 56379; then
      say "starting Redis on 127.0.0.1:56379"
      redis-server --port 56379 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --logfile "$(pwd)/$data/redis.log" >/dev/null
      for _ in $(seq 50); do port_open 56379 && break; sleep 0.1; done
    fi
    rd="redis://127.0.0.1:56379/0"
  fi
fi
echo "export REGIE_TEST_REDIS_URL='$rd'"

# The fault tests start, stop and restart Redis servers of their own, and
# the load-balancer tests run haproxy in front of several servers.
command -v redis-server >/dev/null || apt_install redis-server
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || apt_install haproxy

# S3: versitygw over a folder; a bucket is a sub-folder.
gobin=$(go env GOPATH)/bin
if [ ! -x "$gobin/versitygw" ]; then
  say "installing versitygw (go install, about a minute the first time)"
  go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 >&2 || die "could not install versitygw"
fi
mkdir -p "$data/s3/regie-test"
if ! port_open 57070; then
  say "starting versitygw on 127.0.0.1:57070"
  ROOT_ACCESS_KEY=regie-test ROOT_SECRET_KEY=regie-test-secret nohup "$gobin/versitygw" --port 127.0.0.1:57070 \
    posix "$(pwd)/$data/s3" >"$data/versitygw.log" 2>&1 &
  for _ in $(seq 100); do port_open 57070 && break; sleep 0.1; done
  port_open 57070 || die "versitygw did not start (see $data/versitygw.log)"
fi
echo "export REGIE_TEST_S3_URL='s3://regie-test?endpoint=http://127.0.0.1:57070&region=us-east-1&path_style=true'"
echo "export AWS_ACCESS_KEY_ID=regie-test AWS_SECRET_ACCESS_KEY=regie-test-secret"

# The browser tests: Debian's Chromium, and axe-core (npm) for the
# accessibility checks, in an ignored folder.
command -v chromium >/dev/null || apt_install chromium
echo "export REGIE_TEST_CHROMIUM='$(command -v chromium)'"
axe=.data/npm/node_modules/axe-core/axe.min.js
if [ ! -f "$axe" ]; then
  command -v npm >/dev/null || apt_install npm
  say "installing axe-core (npm)"
  npm install --silent --no-audit --no-fund --prefix .data/npm axe-core@4.14.1 >&2 || die "could not install axe-core"
fi
echo "export REGIE_TEST_AXE='$(pwd)/$axe'"
