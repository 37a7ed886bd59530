#!/usr/bin/env bash
# ansible-test sanity for the collection, in ansible-test's own virtual
# environments (--venv: no docker, no container registry).
#
# ansible-test needs the collection under .../ansible_collections/cni/node,
# so each run rebuilds a copy at build/sanity/ansible_collections/cni/node
# from the files git sees (tracked, plus untracked ones that are not
# ignored), exactly what a commit of the work tree would hold.
#
# Extra arguments go to ansible-test, e.g.
#   bash hack/sanity.sh --test validate-modules plugins/modules/cni_sysctl.py
#
# The first run installs each test's requirements from PyPI into
# ~/.ansible/test/venv (about 2 minutes); later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"

# Sanity tests that cannot work on this kind of machine, with the reason.
SKIP_TESTS=(
  # (none: every test works offline once hack/get-pip-standin.sh has run.
  #  shellcheck and pslint skip themselves when their tool is not installed:
  #  ansible-test then prints a warning.)
)

# Every entry of an ignore file must carry its reason: "path test # reason".
status=0
shopt -s nullglob
for f in tests/sanity/ignore-*.txt; do
  if bad=$(grep -nvE '^[[:space:]]*(#.*)?$' "$f" | grep -vE '[^#]+ # *[^[:space:]]'); then
    echo "!! $f: entries without a written reason (\"path test # reason\"):"
    while IFS= read -r line; do echo "   $line"; done <<<"$bad"
    status=1
  fi
done
shopt -u nullglob
((status == 0)) || exit 1

# ansible-test bootstraps pip in each venv with a script it would download.
bash hack/get-pip-standin.sh

# One sanity run at a time: runs share build/sanity.
mkdir -p build
exec 9>build/.sanity.lock
flock 9

copy=build/sanity/ansible_collections/cni/node
# ansible-test's own venv (tests/output/.tmp/delegation) survives the rebuild:
# creating it again costs a pip download on every run.
delegation=tests/output/.tmp/delegation
keep=build/sanity-delegation
if [[ -d $copy/$delegation ]]; then rm -rf "$keep"; mv "$copy/$delegation" "$keep"; fi
rm -rf build/sanity
mkdir -p "$copy"
# Files deleted from the work tree but still in the index are left out, and
# so are .venv and build even when they are symlinks (.gitignore's "dir/"
# patterns do not match a symlink).
git ls-files -z --cached --others --exclude-standard -- . ':!:.venv' ':!:build' \
  | while IFS= read -r -d '' f; do
      if [[ -e $f || -L $f ]]; then printf '%s\0' "$f"; fi
    done \
  | tar --null --no-recursion -T - -cf - \
  | tar -xf - -C "$copy"

cd "$copy"
# ansible-test asks git which files belong to the collection; walking up from
# the copy it would find this repository, where build/ is ignored, and see no
# file at all. A repository of its own at the copy's root (nothing committed:
# git ls-files --others lists the files) makes it see exactly the copy.
git init -q .
if [[ -d $ROOT/$keep ]]; then
  mkdir -p "$(dirname "$delegation")"
  mv "$ROOT/$keep" "$delegation"
fi

args=(sanity --venv --python 3.11 --color no)
for t in "${SKIP_TESTS[@]}"; do args+=(--skip-test "$t"); done

echo ">> ansible-test ${args[*]} $*  (in $copy)"
log=$ROOT/build/sanity.log
start=$SECONDS
rc=0
ansible-test "${args[@]}" "$@" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
echo ">> ansible-test sanity finished in $((SECONDS - start)) s, exit code $rc"

# A closing count: tests run, and those ansible-test lists as failed.
ran=$(grep -c '^Running sanity test ' "$log" || true)
failed=$(sed -nE 's/^FATAL: The ([0-9]+) sanity test\(s\) listed below.*/\1/p' "$log" | tail -1)
failed=${failed:-0}
if ((rc != 0)); then
  ((failed > 0)) || failed=1   # ansible-test itself failed
  echo "!! sanity FAILED (output: $copy/tests/output/)"
elif ((ran == 0)); then
  echo "!! sanity ran no test"
  rc=1
fi
echo "sanity: $((ran > failed ? ran - failed : 0)) passed, $failed failed"
exit "$rc"
