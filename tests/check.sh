#!/usr/bin/env bash
# make check: unit and integration tests on the release build, then under AddressSanitizer
# and UndefinedBehaviorSanitizer, then the concurrency-heavy ones under ThreadSanitizer.
# prove prints the summary of each pass.  `tests/check.sh tsan` runs the last pass alone.
#
# INTEGRATION       the release pass's integration tests (default: tests/integration/*.t)
# SAN_INTEGRATION   the sanitizer pass's (default: INTEGRATION; the Makefile leaves out the
#                   reader tests, READER_TESTS)
# TSAN_INTEGRATION  the ThreadSanitizer pass's integration tests (the Makefile names them)
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

# The ThreadSanitizer pass: the threaded unit tests and TSAN_INTEGRATION on build/tsan.  Every
# process writes its reports to a file of its own; any report fails the pass.
tsan_pass() {
  local start=$SECONDS dir tests
  tests=${TSAN_INTEGRATION:-tests/integration/07-growth.t tests/integration/23-tree-changes.t tests/integration/60-faults.t tests/integration/62-load.t tests/integration/63-shutdown.t tests/integration/64-soak.t}
  echo "== ThreadSanitizer build: threaded unit tests and $(count $tests) integration tests"
  dir=$(mktemp -d "${TMPDIR:-/tmp}/livemp4fs-tsan.XXXXXX")
  # G_SLICE=always-malloc: GLib's slice allocator hands memory between threads under locks of
  # its own, which ThreadSanitizer cannot see (tests/tsan/glib-tsan.c covers the locks we use).
  G_SLICE=always-malloc TSAN_OPTIONS="log_path=$dir/report second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
  LIVEMP4FS=$PWD/build/tsan/livemp4fs LIVEMP4=$PWD/build/tsan/livemp4 LIVEMP4_SANITIZED=1 \
    prove -f build/tsan/tests/test-threads $tests || status=1
  if compgen -G "$dir/report*" >/dev/null; then
    echo "== ThreadSanitizer reports:"
    cat "$dir"/report*
    status=1
  fi
  rm -rf "$dir"
  echo "== ThreadSanitizer build: $((SECONDS - start)) s"
}
if [[ ${1:-} == tsan ]]; then
  tsan_pass
  exit $status
fi

start=$SECONDS
echo "== release build: unit tests and $(count $integration) integration tests"
LIVEMP4FS=$PWD/build/release/livemp4fs LIVEMP4=$PWD/build/release/livemp4 \
  prove -f build/release/tests/test-* $integration || status=1
# The unit tests again with every second source read short, then interrupted (source.h):
# source_read must make both invisible, so every test passes unchanged.
for fault in short eintr; do
  echo "== release build: unit tests with LIVEMP4_SOURCE_FAULTS=$fault"
  LIVEMP4_SOURCE_FAULTS=$fault prove -f build/release/tests/test-* || status=1
done
echo "== release build: $((SECONDS - start)) s"

start=$SECONDS
echo "== sanitizer build (ASan + UBSan): unit tests and $(count $san_integration) integration tests"
for t in $integration; do
  [[ " $(echo $san_integration) " == *" $t "* ]] || echo "   (release pass only: $t)"
done
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
LIVEMP4FS=$PWD/build/asan/livemp4fs LIVEMP4=$PWD/build/asan/livemp4 LIVEMP4_SANITIZED=1 \
  prove -f build/asan/tests/test-* $san_integration || status=1
unset ASAN_OPTIONS UBSAN_OPTIONS

tsan_pass

# Only a partial run (ALLOW_SKIP=1) skips a test for a missing tool; say which.
if [[ -s $LIVEMP4FS_SKIPPED ]]; then
  echo "== ALLOW_SKIP=1, a partial run: skipped for what is missing"
  sort -u "$LIVEMP4FS_SKIPPED" | sed 's/^/   /'
fi
exit $status
