#!/usr/bin/env bash
# tests/fuzz/run.sh [TARGET...] — builds the libFuzzer targets into build/fuzz/ and runs each
# for FUZZ_SECONDS (default 60) on its seed corpus.  Exits non-zero if a target does not
# build or finds a crash (the input is left in build/fuzz/artifacts/TARGET/).
#
#   FUZZ_SECONDS=N     time per target            FUZZ_JOBS=N   parallel fuzzing processes
#   FUZZ_BUILD_ONLY=1  build, do not run          FUZZ_ARGS=... extra libFuzzer options
#   FUZZ_REPLAY=1      only run the seed corpus once (a quick regression check)
#   FUZZ_OUT=DIR       build and work in DIR instead of build/fuzz
#
# The muxer sources are compiled into each target with the same sanitizer flags.  New inputs
# the fuzzer finds go to build/fuzz/corpus/TARGET (the committed seeds stay untouched).
set -u
cd "$(dirname "$0")/../.."
: "${FUZZ_SECONDS:=60}" "${FUZZ_JOBS:=1}" "${FUZZ_ARGS:=}"
CC=${FUZZ_CC:-clang}
ROOT=$PWD
OUT=${FUZZ_OUT:-build/fuzz}
mkdir -p "$OUT"

targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(fmp4 mp4 writer ts cache)
  [[ -f muxer/mkv.c ]] && targets+=(mkv)
fi

defs=()
[[ -f muxer/mkv.c ]] && defs+=(-DHAVE_MKV)
cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -I. "${defs[@]}"
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -Wall -Wextra -Wno-unused-parameter -Wno-unused-function -DLIVEMP4FS_VERSION=\"fuzz\")
read -r -a glib_cflags <<<"$(pkg-config --cflags glib-2.0)"
read -r -a glib_libs <<<"$(pkg-config --libs glib-2.0)"

status=0
for t in "${targets[@]}"; do
  src=tests/fuzz/fuzz-$t.c
  [[ -f $src ]] || { echo "fuzz: no $src" >&2; status=1; continue; }
  [[ $t == mkv && ! -f muxer/mkv.c ]] && { echo "fuzz: muxer/mkv.c does not exist yet: $t skipped"; continue; }
  echo "== building $OUT/fuzz-$t"
  if ! $CC "${cflags[@]}" "${glib_cflags[@]}" -o "$OUT/fuzz-$t" "$src" muxer/*.c "${glib_libs[@]}"; then
    echo "fuzz: $t does not build" >&2
    status=1
    continue
  fi
done
((status == 0)) || exit "$status"
[[ ${FUZZ_BUILD_ONLY:-} == 1 ]] && exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for t in "${targets[@]}"; do
  [[ $t == mkv && ! -f muxer/mkv.c ]] && continue
  seeds=tests/fuzz/corpus/$t
  work=$OUT/corpus/$t
  art=$OUT/artifacts/$t
  mkdir -p "$work" "$art" "$seeds"
  if [[ ${FUZZ_REPLAY:-} == 1 ]]; then
    echo "== replaying $seeds with fuzz-$t"
    "$OUT/fuzz-$t" -runs=0 -artifact_prefix="$art/" "$seeds" 2>&1 | tail -n 3
    rc=${PIPESTATUS[0]}
  else
    echo "== fuzz-$t for ${FUZZ_SECONDS}s (log: $OUT/fuzz-$t.log)"
    # -rss_limit_mb: a recording may legitimately reach the documented limits
    # (RECORDING_MAX_SAMPLES) in memory, far above what 64 KiB of input needs.
    jobs=()
    ((FUZZ_JOBS > 1)) && jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
    # shellcheck disable=SC2086
    (cd "$OUT" && exec "./fuzz-$t" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -timeout=30 -rss_limit_mb=2560 \
      "${jobs[@]}" -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
      $FUZZ_ARGS "corpus/$t" "$ROOT/$seeds") >"$OUT/fuzz-$t.log" 2>&1
    rc=$?
    if ((FUZZ_JOBS > 1)); then cat "$OUT"/fuzz-[0-9]*.log >>"$OUT/fuzz-$t.log" 2>/dev/null; rm -f "$OUT"/fuzz-[0-9]*.log; fi
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$OUT/fuzz-$t.log" | tail -n 3
  fi
  if ((rc != 0)); then
    echo "fuzz-$t: FAILED (exit $rc); artifacts in $art:" >&2
    ls "$art" >&2
    grep -E -m 5 'ERROR|SUMMARY|check failed|runtime error' "$OUT/fuzz-$t.log" >&2
    status=1
  else
    echo "fuzz-$t: ok"
  fi
done
exit "$status"
