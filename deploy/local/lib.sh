# Shared helpers of the local service scripts (sourced, not run).
# Messages go to stderr: stdout carries the export lines the Makefile evals.

say() { echo "[local] $*" >&2; }
die() { echo "[local] error: $*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# apt_install PKG... installs Debian packages when running as root, else
# stops with the command to run.
apt_install() {
  if ! is_root; then
    die "missing $*: run 'sudo apt-get install -y $*' and try again"
  fi
  say "installing $* (apt)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "$@" >&2; then
    apt-get update -q >&2 || true
    apt-get install -y -q --no-install-recommends "$@" >&2 || die "could not install $*"
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n | tail -1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && { echo "$d"; return; }
  command -v initdb >/dev/null && dirname "$(command -v initdb)"
}

# pg_usable URL: can we log in and create databases?
pg_usable() {
  command -v psql >/dev/null || return 1
  PGCONNECT_TIMEOUT=3 psql "$1" -Atqc "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user" 2>/dev/null | grep -q t
}

# start_cluster DIR PORT: a throwaway trust-auth cluster owned by postgres
# when root (initdb refuses root).
start_cluster() {
  local dir=$1 port=$2 bin run=()
  bin=$(pg_bindir)
  if [ -z "$bin" ]; then
    apt_install postgresql
    bin=$(pg_bindir)
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if is_root; then
    id postgres >/dev/null 2>&1 || apt_install postgresql
    chown postgres: "$dir"
    chmod 700 "$dir"
    run=(runuser -u postgres --)
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    say "initialising a PostgreSQL cluster in $dir"
    "${run[@]}" "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null || die "initdb failed"
  fi
  if ! port_open "$port"; then
    say "starting PostgreSQL on 127.0.0.1:$port"
    "${run[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      start >/dev/null || die "PostgreSQL did not start (see $dir/server.log)"
  fi
}
