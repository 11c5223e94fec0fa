# Shared by bench/compare and bench/net: paths, and installing the official Python and Node libraries
# (pinned) on first use. Source it after `cd "$root"`.

target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/bench-venv"
node_dir="$target/bench-node"
PY_VERSION=3.3.4
NODE_VERSION=5.3.4

install_references() {
  # Python: the official library in its own venv.
  if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('pusher') != '$PY_VERSION')" 2>/dev/null; then
    echo "installing pusher==$PY_VERSION (PyPI) into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "pusher==$PY_VERSION"
  fi
  # Node: the official library in its own folder.
  mkdir -p "$node_dir"
  if ! (cd "$node_dir" && node -e "process.exit(require('pusher/package.json').version === '$NODE_VERSION' ? 0 : 1)") 2>/dev/null; then
    echo "installing pusher@$NODE_VERSION (npm) into $node_dir" >&2
    [ -f "$node_dir/package.json" ] || echo '{"name": "bench-node", "private": true}' > "$node_dir/package.json"
    (cd "$node_dir" && npm install --silent --no-audit --no-fund --save-exact "pusher@$NODE_VERSION")
  fi
}

machine_line() {
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "rustc $(rustc --version | cut -d' ' -f2), Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())') + pusher $PY_VERSION, Node $(node --version) + pusher $NODE_VERSION"
}
