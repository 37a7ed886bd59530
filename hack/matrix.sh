#!/usr/bin/env bash
# The ansible-core matrix: every ansible-core that meta/runtime.yml supports,
# one pinned requirements file each (tests/matrix/ansible-core-X.Y.txt).
#
# For each version, in its own virtualenv (Debian's python3; built on first
# use, all versions' at the same time, and cached under
# .cache/venvs/ansible-core-X.Y-KEY, KEY a hash of the requirements file,
# the interpreter's version and the recipe below, so a changed pin builds a
# new one and the old one is removed):
#   unit   the unit suite (hack/run-pytest.sh: fails when every test skipped)
#   build  ansible-galaxy collection build + install --offline into a
#          temporary path, with this version's ansible-galaxy
#   smoke  every module of the installed collection once through
#          `ansible localhost -m cni.node.MODULE`, harmless arguments
#          (tests/matrix/smoke.py)
# Every version runs even when an earlier one failed. Closes with a count
# and one line per version (also in $TEST_RESULTS_DIR/matrix.summary, for
# hack/test.sh's summary) and exits non-zero when any version failed.
#
#   MATRIX="2.16 2.19" bash hack/matrix.sh    a subset of the versions
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
PY=/usr/bin/python3          # as hack/bootstrap.sh: no interpreter installed by hand
CACHE=$ROOT/.cache/venvs
RECIPE="venv; pip install --no-deps -r; pip check"   # part of the cache key
export TEST_RESULTS_DIR=${TEST_RESULTS_DIR:-$ROOT/build/test-results}
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 PY_COLORS=0
mkdir -p "$CACHE" "$TEST_RESULTS_DIR" || exit 1

versions=()
if [[ -n ${MATRIX:-} ]]; then
  read -ra versions <<<"$MATRIX"
else
  for f in tests/matrix/ansible-core-*.txt; do
    v=${f#tests/matrix/ansible-core-}
    versions+=("${v%.txt}")
  done
  mapfile -t versions < <(printf '%s\n' "${versions[@]}" | sort -V)
fi
((${#versions[@]})) || { echo "!! no tests/matrix/ansible-core-*.txt"; exit 1; }

tmp=$(mktemp -d -t cni-node-matrix.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

# The virtualenv for requirements file $2 of version $1; its path on stdout.
venv_for() {
  local v=$1 req=$2 key dir old
  key=$( { cat "$req"; "$PY" -VV; echo "$RECIPE"; } | sha256sum | cut -c1-16)
  dir=$CACHE/ansible-core-$v-$key
  exec 8>"$CACHE/.ansible-core-$v.lock"
  flock 8                       # one build of a version at a time
  if [[ ! -f $dir/.complete ]]; then
    for old in "$CACHE/ansible-core-$v-"*; do
      [[ -e $old ]] && rm -rf "$old"
    done
    echo ">> $v: building $dir from $req" >&2
    local t0=$SECONDS
    if ! { "$PY" -m venv "$dir" \
           && "$dir/bin/pip" install -q --disable-pip-version-check --no-deps -r "$req" \
           && "$dir/bin/pip" check --disable-pip-version-check; } >&2; then
      exec 8>&-
      return 1
    fi
    touch "$dir/.complete"
    echo ">> $v: built in $((SECONDS - t0)) s" >&2
  else
    echo ">> $v: reusing $dir" >&2
  fi
  exec 8>&-
  echo "$dir"
}

# Every version's virtualenv first, all at the same time (mostly downloads).
declare -A builder
for v in "${versions[@]}"; do
  req=tests/matrix/ansible-core-$v.txt
  mkdir -p "$tmp/$v"
  [[ -f $req ]] || continue
  venv_for "$v" "$req" >"$tmp/$v/venv" 2>"$tmp/$v/venv.log" &
  builder[$v]=$!
done

declare -A line
failed=0 npassed=0 nfailed=0
for v in "${versions[@]}"; do
  echo
  echo "------------------------ ansible-core $v ------------------------"
  start=$SECONDS
  req=tests/matrix/ansible-core-$v.txt
  ok=1 core="?" unit="not run" smoke="not run"
  if [[ ! -f $req ]]; then
    echo "!! $req is missing"
    ok=0
  elif ! wait "${builder[$v]}"; then
    cat "$tmp/$v/venv.log"
    echo "!! $v: the virtualenv could not be built from $req"
    ok=0
  else
    grep '^>>' "$tmp/$v/venv.log"
    venv=$(cat "$tmp/$v/venv")
    core=$("$venv/bin/python" -c 'from ansible.release import __version__; print(__version__)' 2>&1)
    [[ $core == "$v".* ]] || { echo "!! $venv has ansible-core $core, not $v.x"; ok=0; }

    # unit: the whole unit suite under this ansible-core
    PATH="$venv/bin:$PATH" bash hack/run-pytest.sh "matrix-$v-unit" "$venv/bin/python" -q tests/unit || ok=0
    unit=$(cat "$TEST_RESULTS_DIR/matrix-$v-unit.summary" 2>/dev/null || echo "no result")

    # build + install with this version's ansible-galaxy, then smoke from there only
    dist=$tmp/$v/dist coll=$tmp/$v/collections
    mkdir -p "$dist" "$coll"
    if ! ANSIBLE_COLLECTIONS_PATH=$coll ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
         "$venv/bin/ansible-galaxy" collection build --output-path "$dist" "$ROOT" >"$tmp/$v/build.log" 2>&1; then
      cat "$tmp/$v/build.log"
      echo "!! $v: ansible-galaxy collection build failed"
      ok=0 smoke="no build"
    elif ! (cd "$tmp" && ANSIBLE_COLLECTIONS_PATH=$coll ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
            "$venv/bin/ansible-galaxy" collection install --offline -p "$coll" "$dist"/cni-node-*.tar.gz \
            >"$tmp/$v/install.log" 2>&1) \
         || [[ ! -f $coll/ansible_collections/cni/node/MANIFEST.json ]]; then
      cat "$tmp/$v/install.log"
      echo "!! $v: ansible-galaxy collection install --offline failed"
      ok=0 smoke="no install"
    else
      (cd "$tmp" && "$venv/bin/python" "$ROOT/tests/matrix/smoke.py" --label "$v" --bin "$venv/bin" \
         --collections "$coll") | tee "$tmp/$v/smoke.log"
      ((PIPESTATUS[0] == 0)) || ok=0
      smoke=$(sed -nE "s/^smoke $v: //p" "$tmp/$v/smoke.log")
      smoke=${smoke:-no result}
    fi
  fi
  if ((ok)); then
    status=passed npassed=$((npassed + 1))
  else
    status=FAILED nfailed=$((nfailed + 1)) failed=1
  fi
  line[$v]=$(printf '%-5s %-6s ansible-core %s: unit %s; smoke %s (%d s)' \
                    "$v" "$status" "$core" "$unit" "$smoke" $((SECONDS - start)))
done

echo
echo "------------------------ matrix ------------------------"
{
  echo "${#versions[@]} ansible-core versions: $npassed passed, $nfailed failed"
  for v in "${versions[@]}"; do echo "${line[$v]}"; done
} | tee "$TEST_RESULTS_DIR/matrix.summary"
exit $failed
