#!/usr/bin/env bash
# The suite_* functions are called indirectly, through "suite_$s".
# shellcheck disable=SC2317
# Run the test suites (all by default, or the ones named as arguments) and
# fail when any suite fails, runs no test or skips every test it has. Every
# suite runs even when an earlier one failed, so one run shows everything
# that is broken. The summary gives each suite's verdict and time, and for
# the pytest suites the counts passed/failed/skipped (for matrix: one line
# per ansible-core version).
#
#   UNIT_TESTS / INTEGRATION_TESTS   the paths pytest gets instead of
#                                    tests/unit / tests/integration, e.g.
#   INTEGRATION_TESTS=tests/integration/test_cni_sysctl.py bash hack/test.sh integration
#   TEST_RESULTS_DIR                 JUnit XML and counts (build/test-results)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$PWD/build/collections"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
export TEST_RESULTS_DIR=${TEST_RESULTS_DIR:-$PWD/build/test-results}
# hypothesis keeps its caches out of the collection tree (the build suite
# refuses files git does not see in the tarball).
export HYPOTHESIS_STORAGE_DIRECTORY=${HYPOTHESIS_STORAGE_DIRECTORY:-$PWD/build/hypothesis}

ALL=(sanity lint unit matrix integration build ee molecule)
suites=("$@")
((${#suites[@]})) || suites=("${ALL[@]}")

read -ra unit_tests <<<"${UNIT_TESTS:-tests/unit}"
read -ra integration_tests <<<"${INTEGRATION_TESTS:-tests/integration}"

# hack/run-pytest.sh fails a pytest run that collected no test or skipped
# every test, and writes its counts to $TEST_RESULTS_DIR/SUITE.summary.
suite_sanity()      { bash hack/sanity.sh; }
suite_lint()        { bash hack/lint.sh; }
suite_unit()        { bash hack/run-pytest.sh unit python "${unit_tests[@]}"; }
suite_matrix()      { bash hack/matrix.sh; }
suite_integration() { bash hack/run-pytest.sh integration python "${integration_tests[@]}"; }
suite_build()       { bash hack/build-test.sh; }
suite_ee()          { bash hack/ee.sh check; }
suite_molecule()    { bash hack/molecule.sh; }

declare -A result
failed=0
for s in "${suites[@]}"; do
  echo
  echo "======================== suite: $s ========================"
  rm -f "$TEST_RESULTS_DIR/$s.summary"
  start=$SECONDS
  if ! declare -F "suite_$s" >/dev/null; then
    echo "!! no suite $s (suites: ${ALL[*]})"
    result[$s]="FAILED"; failed=1
  elif "suite_$s"; then result[$s]="passed"; else result[$s]="FAILED"; failed=1; fi
  result[$s]+=" ($((SECONDS - start)) s)"
done

# A suite's details (hack/run-pytest.sh's counts, hack/matrix.sh's versions):
# the first line next to the verdict, any further lines below it.
echo
echo "======================== summary ========================"
for s in "${suites[@]}"; do
  details=()
  if [[ -f $TEST_RESULTS_DIR/$s.summary ]]; then mapfile -t details <"$TEST_RESULTS_DIR/$s.summary"; fi
  printf '%-12s %-16s %s\n' "$s" "${result[$s]}" "${details[0]:-}"
  details=("${details[@]:1}")
  for d in "${details[@]}"; do printf '%-12s %s\n' "" "$d"; done
done
exit $failed
