#!/usr/bin/env bash
# make check: unit and integration tests on the release build, then under AddressSanitizer
# and UndefinedBehaviorSanitizer.  prove prints the summary of each pass.
#
# INTEGRATION       the release pass's integration tests (default: tests/integration/*.t)
# SAN_INTEGRATION   the sanitizer pass's (default: INTEGRATION; the Makefile leaves out the
#                   reader tests, READER_TESTS)
# ALLOW_SKIP=1      a partial run: tests whose tools are missing are skipped (listed at the
#                   end) instead of failing
set -u
cd "$(dirname "$0")/.."
status=0
integration=${INTEGRATION:-$(ls tests/integration/*.t 2>/dev/null | sort)}
san_integration=${SAN_INTEGRATION-$integration}
export ALLOW_SKIP=${ALLOW_SKIP:-0}
LIVEMP4FS_SKIPPED=$(mktemp "${TMPDIR:-/tmp}/livemp4fs-skipped.XXXXXX")
export LIVEMP4FS_SKIPPED
trap 'rm -f "$LIVEMP4FS_SKIPPED"' EXIT

count() { echo $#; }
start=$SECONDS
echo "== release build: unit tests and $(count $integration) integration tests"
LIVEMP4FS=$PWD/build/release/livemp4fs LIVEMP4=$PWD/build/release/livemp4 \
  prove -f build/release/tests/test-* $integration || status=1
echo "== release build: $((SECONDS - start)) s"

start=$SECONDS
echo "== sanitizer build (ASan + UBSan): unit tests and $(count $san_integration) integration tests"
for t in $integration; do
  [[ " $(echo $san_integration) " == *" $t "* ]] || echo "   (release pass only: $t)"
done
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
LIVEMP4FS=$PWD/build/asan/livemp4fs LIVEMP4=$PWD/build/asan/livemp4 LIVEMP4_SANITIZED=1 \
  prove -f build/asan/tests/test-* $san_integration || status=1

# Only a partial run (ALLOW_SKIP=1) skips a test for a missing tool; say which.
if [[ -s $LIVEMP4FS_SKIPPED ]]; then
  echo "== ALLOW_SKIP=1, a partial run: skipped for what is missing"
  sort -u "$LIVEMP4FS_SKIPPED" | sed 's/^/   /'
fi
exit $status
