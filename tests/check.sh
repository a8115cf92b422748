#!/usr/bin/env bash
# make check: unit and integration tests on the release build, then the same
# under AddressSanitizer and UndefinedBehaviorSanitizer.  prove prints the summary.
set -u
cd "$(dirname "$0")/.."
status=0
integration=$(ls tests/integration/*.t 2>/dev/null | sort)

echo "== release build"
LIVEMP4FS=$PWD/build/release/livemp4fs LIVEMP4=$PWD/build/release/livemp4 \
  prove -f build/release/tests/test-* $integration || status=1

echo "== sanitizer build (ASan + UBSan)"
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
LIVEMP4FS=$PWD/build/asan/livemp4fs LIVEMP4=$PWD/build/asan/livemp4 LIVEMP4_SANITIZED=1 \
  prove -f build/asan/tests/test-* $integration || status=1
exit $status
