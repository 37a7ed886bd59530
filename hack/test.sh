#!/usr/bin/env bash
# The suite_* functions are called indirectly, through "suite_$s".
# shellcheck disable=SC2317
# Run the test suites (all by default, or the ones named as arguments) and
# fail when any suite fails or runs no test. Every suite runs even when an
# earlier one failed, so one run shows everything that is broken.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$PWD/build/collections"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0

ALL=(sanity lint unit integration build molecule)
suites=("$@")
((${#suites[@]})) || suites=("${ALL[@]}")

# pytest exits 5 when it collected no test: that is a failure here.
run_pytest() {
  python -m pytest -p no:cacheprovider -ra "$@"
  local rc=$?
  if ((rc == 5)); then echo "!! pytest ran no test"; fi
  return "$rc"
}

suite_sanity()      { bash hack/sanity.sh; }
suite_lint()        { bash hack/lint.sh; }
suite_unit()        { run_pytest tests/unit; }
suite_integration() { run_pytest tests/integration; }
suite_build()       { bash hack/build-test.sh; }
suite_molecule()    { bash hack/molecule.sh; }

declare -A result
failed=0
for s in "${suites[@]}"; do
  echo
  echo "======================== suite: $s ========================"
  start=$SECONDS
  if "suite_$s"; then result[$s]="passed"; else result[$s]="FAILED"; failed=1; fi
  result[$s]+=" ($((SECONDS - start)) s)"
done

echo
echo "======================== summary ========================"
for s in "${suites[@]}"; do printf '%-12s %s\n' "$s" "${result[$s]}"; done
exit $failed
