# livemp4fs — see README.md.  `make`, `make check`, `make clean`.
VERSION := 0.1.0
PKGS := fuse3 glib-2.0
CC ?= cc
SAN ?=
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I. -DLIVEMP4FS_VERSION=\"$(VERSION)\" \
          $(shell pkg-config --cflags $(PKGS))
LDLIBS += $(shell pkg-config --libs $(PKGS))

ifeq ($(SAN),1)
BUILD := build/asan
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SAN),thread)
# ThreadSanitizer; tests/tsan/glib-tsan.c shows it GLib's locks (see there).
BUILD := build/tsan
CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
TSAN_OBJ := $(BUILD)/tests/tsan/glib-tsan.o
LDLIBS += -ldl
else
BUILD := build/release
endif

MUXER_SRC := $(wildcard muxer/*.c)
FS_SRC := $(wildcard fs/*.c)
UNIT_SRC := $(wildcard tests/unit/test-*.c)

MUXER_OBJ := $(MUXER_SRC:%.c=$(BUILD)/%.o)
FS_OBJ := $(FS_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

DAEMON := $(BUILD)/livemp4fs
TOOL := $(BUILD)/livemp4

.PHONY: all check deps check-unit check-integration asan tsan check-tsan soak bench fuzz demo demo-stop install uninstall clean
.SECONDARY:
all: $(DAEMON) $(TOOL) $(UNIT_BIN)
	@ln -sf ../$(DAEMON) fs/livemp4fs
	@ln -sf ../$(TOOL) tools/livemp4

# GLib log domains: the daemon's own messages and the media library's.
$(BUILD)/fs/%.o: CFLAGS += -DG_LOG_DOMAIN=\"livemp4fs\"
$(BUILD)/muxer/%.o: CFLAGS += -DG_LOG_DOMAIN=\"livemp4\"
$(BUILD)/tools/%.o: CFLAGS += -DG_LOG_DOMAIN=\"livemp4\"

$(BUILD)/%.o: %.c $(wildcard muxer/*.h fs/*.h tests/unit/*.h tests/fuzz/*.h tests/fuzz/fuzz-writer.c)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libmuxer.a: $(MUXER_OBJ)
	$(AR) rcs $@ $^

$(DAEMON): $(FS_OBJ) $(BUILD)/libmuxer.a $(TSAN_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TOOL): $(BUILD)/tools/livemp4.o $(BUILD)/libmuxer.a $(TSAN_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libmuxer.a $(TSAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests of the daemon's pure modules link their object as well.
$(BUILD)/tests/test-node-id: $(BUILD)/fs/node_id.o

PREFIX ?= /usr/local
DESTDIR ?=
install: all
	install -D -m 755 $(DAEMON) $(DESTDIR)$(PREFIX)/bin/livemp4fs
	install -D -m 755 $(TOOL) $(DESTDIR)$(PREFIX)/bin/livemp4
	install -D -m 644 doc/livemp4fs.1 $(DESTDIR)$(PREFIX)/share/man/man1/livemp4fs.1
	install -D -m 644 doc/srv-mp4.mount $(DESTDIR)$(PREFIX)/share/doc/livemp4fs/srv-mp4.mount
	install -D -m 644 README.md $(DESTDIR)$(PREFIX)/share/doc/livemp4fs/README.md

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/livemp4fs $(DESTDIR)$(PREFIX)/bin/livemp4 \
	      $(DESTDIR)$(PREFIX)/share/man/man1/livemp4fs.1
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/livemp4fs

demo:
	tools/demo.sh

demo-stop:
	tools/demo-stop.sh

clean:
	rm -rf build fs/livemp4fs tools/livemp4

# Tests: GTest binaries print TAP, integration tests are bash scripts printing TAP;
# prove runs both and prints the summary.  LIVEMP4FS/LIVEMP4 select the binaries.
INTEGRATION := $(sort $(wildcard tests/integration/*.t))
export LIVEMP4FS := $(abspath $(DAEMON))
export LIVEMP4 := $(abspath $(TOOL))

# A test whose tool is missing fails; ALLOW_SKIP=1 asks for a partial run that skips it.
ALLOW_SKIP ?= 0
export ALLOW_SKIP

# Integration tests that exercise readers (browsers, players, parsers, SMB clients) rather
# than the daemon's code paths: the release pass runs them, the sanitizer pass leaves them
# out (see README, Tests).  SAN_INTEGRATION is what the sanitizer pass runs; override either,
# e.g. make check READER_TESTS= (everything twice).
READER_TESTS ?= 40-% 42-% 43-% 44-% 45-% 80-%
SAN_INTEGRATION ?= $(filter-out $(addprefix tests/integration/,$(READER_TESTS)),$(INTEGRATION))

# make check: installs what packages.txt lists and is missing (before anything is compiled:
# libfuse3-dev may be among them), builds both builds, runs tests/check.sh.
check:
	tools/install-deps.sh
	$(MAKE) -j2 all
	$(MAKE) -j2 SAN=1 all
	$(MAKE) -j2 SAN=thread all
	INTEGRATION="$(INTEGRATION)" SAN_INTEGRATION="$(SAN_INTEGRATION)" TSAN_INTEGRATION="$(TSAN_INTEGRATION)" tests/check.sh

deps:
	tools/install-deps.sh

asan:
	$(MAKE) -j2 SAN=1 all

# ThreadSanitizer build (build/tsan) of the daemon, the tool and the unit tests.
tsan:
	$(MAKE) -j2 SAN=thread all

# The concurrency-heavy tests under ThreadSanitizer (make check runs them as its third pass):
# the threaded unit tests and TSAN_INTEGRATION; any report fails the test (halt_on_error).
TSAN_INTEGRATION ?= $(addprefix tests/integration/,07-growth.t 23-tree-changes.t 60-faults.t 62-load.t 63-shutdown.t 64-soak.t)
check-tsan: tsan
	TSAN_INTEGRATION="$(TSAN_INTEGRATION)" tests/check.sh tsan

# The soak test's long form (10,000 iterations; README, Tests).  make check runs a short one.
SOAK_ITERATIONS ?= 10000
soak: all
	SOAK_ITERATIONS=$(SOAK_ITERATIONS) prove -v tests/integration/64-soak.t

check-unit: all
	prove -f $(UNIT_BIN)

check-integration: all
	prove -f $(INTEGRATION)

# Benchmarks (about 5 minutes, root for dropping caches): prints a table; see README.
bench: all
	tests/bench/run.sh

# libFuzzer targets (clang): built into build/fuzz/ and run FUZZ_SECONDS each (default 60);
# fails if a target finds a crash.  See tests/fuzz/run.sh.
fuzz:
	tests/fuzz/run.sh
