# raterm - top-level Makefile
#
#   make          build/raterm and build/vpiv (release flags)
#   make check    install Debian deps if missing, build with ASan+UBSan,
#                 run the unit tests (cmocka) and the integration tests
#   make demo     install deps, start the private stack, run raterm on it
#   make bench    figures against the peers (not a test)
#   make deps     install the Debian packages the project needs

VERSION := 0.1.0
BUILD   ?= build
SAN     ?= 0

CC      ?= cc
PKGS    := libpcsclite
CPPFLAGS += -Iinclude -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
	    -DRATERM_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wformat=2 -fno-common -fstack-protector-strong
LDLIBS_CRYPTO := -lmbedx509 -lmbedcrypto
LDLIBS_PCSC   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpcsclite)
# raterm does not link libcurl: src/cmp/curl_dl.c loads it on first use.
LDLIBS_NET    := -lcurl
LDLIBS_SERVER := -lmicrohttpd -lgnutls -lsqlite3 -lpq -lyaml -lcrypto
# libpq's header (cmhost's PostgreSQL backend, src/cmhost/db_pg.c)
CPPFLAGS_PQ   := -I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
LDLIBS  += -lz -lpthread

ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

OBJ := $(BUILD)/obj

# Layers: util (errors, TLV), card (transport, APDU, PIV), crypto,
# cmp (CMP messages, client), engine (Contents model), vpiv core (libvpiv),
# cmhost core (libcmhost), CLI.
UTIL_SRC  := $(wildcard src/util/*.c)
CARD_SRC  := $(wildcard src/card/*.c)
CRYPTO_SRC:= $(wildcard src/crypto/*.c)
PROFILE_SRC:= $(wildcard src/profile/*.c)
ENGINE_SRC:= $(wildcard src/engine/*.c)
CONFIG_SRC:= $(wildcard src/config/*.c)
CMP_SRC   := $(wildcard src/cmp/*.c)
# the cmhost program (dispatcher, serve; the admin subcommands): not in libcmhost
CMHOST_MAIN := src/cmhost/main.c src/cmhost/admin.c src/cmhost/serve.c
CMHOST_SRC:= $(filter-out $(CMHOST_MAIN),$(wildcard src/cmhost/*.c))
# what the virtual cards share (faults, trace, state file, vpcd front end,
# in-process transport, command line): in libvpiv, which vp15 links too
VCARD_SRC := $(wildcard src/vcard/*.c)
VPIV_SRC  := $(filter-out src/vpiv/main.c,$(wildcard src/vpiv/*.c)) $(VCARD_SRC)
VP15_SRC  := $(filter-out src/vp15/main.c,$(wildcard src/vp15/*.c))
CLI_SRC   := $(wildcard src/cli/*.c)
# the officer's screen: the only curses code; linked into raterm only
UI_SRC    := $(wildcard src/ui/*.c)
LDLIBS_UI := $(shell pkg-config --libs formw menuw panelw ncursesw 2>/dev/null || echo -lformw -lmenuw -lpanelw -lncursesw -ltinfo)

LIBRATERM := $(BUILD)/libraterm.a
LIBVPIV   := $(BUILD)/libvpiv.a
LIBVP15   := $(BUILD)/libvp15.a
LIBCMHOST := $(BUILD)/libcmhost.a
LIBUI     := $(BUILD)/libui.a

LIB_OBJS  := $(patsubst src/%.c,$(OBJ)/%.o,$(UTIL_SRC) $(CARD_SRC) $(CRYPTO_SRC) $(CMP_SRC) $(PROFILE_SRC) $(ENGINE_SRC) $(CONFIG_SRC))
VPIV_OBJS := $(patsubst src/%.c,$(OBJ)/%.o,$(VPIV_SRC))
VP15_OBJS := $(patsubst src/%.c,$(OBJ)/%.o,$(VP15_SRC))
CMHOST_OBJS := $(patsubst src/%.c,$(OBJ)/%.o,$(CMHOST_SRC))
CLI_OBJS  := $(patsubst src/%.c,$(OBJ)/%.o,$(CLI_SRC))
UI_OBJS   := $(patsubst src/%.c,$(OBJ)/%.o,$(UI_SRC))

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TOOL_SRC  := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRC))

.PHONY: all clean check unit integ deps demo scale-demo bench bench-scale install tools fuzz fuzz-smoke
PROGS := $(BUILD)/raterm $(BUILD)/vpiv $(BUILD)/vp15 $(if $(wildcard src/cmhost/main.c),$(BUILD)/cmhost)
all: $(PROGS) tools

tools: $(TOOL_BINS)

$(OBJ)/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(OBJ)/cmhost/db_pg.o $(BUILD)/tests/test_cmhost_db: CPPFLAGS += $(CPPFLAGS_PQ)

$(LIBRATERM): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBVPIV): $(VPIV_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBVP15): $(VP15_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBCMHOST): $(CMHOST_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBUI): $(UI_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/raterm: $(CLI_OBJS) $(LIBUI) $(LIBVPIV) $(LIBRATERM)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIBUI) $(LIBVPIV) $(LIBRATERM) $(LDLIBS_PCSC) \
	    $(LDLIBS_CRYPTO) -lyaml $(LDLIBS_UI) $(LDLIBS)

$(BUILD)/cmhost: $(patsubst src/%.c,$(OBJ)/%.o,$(CMHOST_MAIN)) $(LIBCMHOST) $(LIBRATERM)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_SERVER) $(LDLIBS_NET) $(LDLIBS_PCSC) \
	    $(LDLIBS_CRYPTO) $(LDLIBS)

$(BUILD)/vpiv: $(OBJ)/vpiv/main.o $(LIBVPIV) $(LIBRATERM)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_CRYPTO) $(LDLIBS)

$(BUILD)/vp15: $(OBJ)/vp15/main.o $(LIBVP15) $(LIBVPIV) $(LIBRATERM)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_CRYPTO) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBCMHOST) $(LIBVP15) $(LIBVPIV) $(LIBRATERM)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -Wno-unused-parameter -o $@ $< \
	    $(LDFLAGS) $(LIBCMHOST) $(LIBVP15) $(LIBVPIV) $(LIBRATERM) -lcmocka $(LDLIBS_SERVER) \
	    $(LDLIBS_NET) $(LDLIBS_PCSC) $(LDLIBS_CRYPTO) $(LDLIBS)

# the screen's view model (src/ui/view.c, keys.c: no curses calls)
$(BUILD)/tests/test_ui_%: tests/unit/test_ui_%.c $(LIBUI) $(LIBRATERM)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -Wno-unused-parameter -o $@ $< \
	    $(LDFLAGS) $(LIBUI) $(LIBRATERM) -lcmocka $(LDLIBS_PCSC) $(LDLIBS_CRYPTO) \
	    -lyaml $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c $(LIBRATERM)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) $(LIBRATERM) \
	    $(LDLIBS_PCSC) $(LDLIBS_CRYPTO) $(LDLIBS)

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

# ---- tests -------------------------------------------------------------
CHECK_BUILD := build/check

check: deps
	$(MAKE) --no-print-directory BUILD=$(CHECK_BUILD) SAN=1 CI_REQUIRED=$${CI_REQUIRED:-1} unit fuzz-smoke integ

# Fuzzing. fuzz-smoke (in `make check`): the fuzz targets under ASan+UBSan
# with a deterministic mutation driver over the seed corpus. fuzz: libFuzzer
# (clang), FUZZ_TIME seconds per target.
FUZZ_TARGETS := card cmp config vpiv cmhost journal softkey pinfd pkcs15 \
		cmhost_config csr
FUZZ_ITER    ?= 50000
FUZZ_TIME    ?= 60
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
# sources a target needs beyond the libraries (the CLI is no library)
FUZZ_EXTRA_pinfd := src/cli/pin.c
# iterations of a slow target in fuzz-smoke (default FUZZ_ITER)
FUZZ_ITER_vpiv   := 5000
FUZZ_ITER_cmhost := 10000
FUZZ_ITER_journal := 20000

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/driver.c $(LIBCMHOST) $(LIBVPIV) $(LIBRATERM)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< tests/fuzz/driver.c $(FUZZ_EXTRA_$*) \
	    $(LDFLAGS) $(LIBCMHOST) $(LIBVPIV) $(LIBRATERM) $(LDLIBS_SERVER) \
	    $(LDLIBS_NET) $(LDLIBS_PCSC) $(LDLIBS_CRYPTO) -lyaml $(LDLIBS)

$(BUILD)/fuzz/fuzz-record: tests/fuzz/record.c $(LIBVPIV) $(LIBRATERM)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) $(LIBVPIV) $(LIBRATERM) \
	    $(LDLIBS_PCSC) $(LDLIBS_CRYPTO) $(LDLIBS)

# each target over its own seed corpus, tests/fuzz/corpus/TARGET/
fuzz-smoke: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	    printf '%-14s ' "$$t:"; \
	    n=$(FUZZ_ITER); \
	    case $$t in vpiv) n=$(FUZZ_ITER_vpiv);; cmhost) n=$(FUZZ_ITER_cmhost);; \
	    journal) n=$(FUZZ_ITER_journal);; esac; \
	    $(BUILD)/fuzz/fuzz_$$t -n $$n tests/fuzz/corpus/$$t/* || exit 1; \
	done

# FUZZ_TARGETS=NAME to run one target
fuzz:
	@mkdir -p build/libfuzzer
	@for t in $(FUZZ_TARGETS); do \
	    case $$t in pinfd) x="$(FUZZ_EXTRA_pinfd)";; *) x=;; esac; \
	    mkdir -p build/libfuzzer/corpus-$$t && \
	    clang $(CPPFLAGS) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
	        -o build/libfuzzer/fuzz_$$t tests/fuzz/fuzz_$$t.c $$x \
	        $(UTIL_SRC) $(CARD_SRC) $(CRYPTO_SRC) $(CMP_SRC) $(PROFILE_SRC) $(ENGINE_SRC) $(CONFIG_SRC) \
	        $(CMHOST_SRC) $(VPIV_SRC) \
	        $(LDLIBS_SERVER) $(LDLIBS_PCSC) $(LDLIBS_NET) $(LDLIBS_CRYPTO) -lyaml $(LDLIBS) && \
	    build/libfuzzer/fuzz_$$t -max_total_time=$(FUZZ_TIME) \
	        build/libfuzzer/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

unit: $(UNIT_BINS)
	@sh tests/run-unit.sh $(UNIT_BINS)

integ: $(PROGS) tools
	@BUILD=$(BUILD) sh tests/integ/run.sh

# the fault sweep over every APDU index and HTTP exchange of a 3-key Redo
# on PIV, then of a PKCS#15 Redo and Add (tests/sweep/sweep.sh [--p15];
# `make check` runs a sample of both, t_sweep.sh); sweep-p15: the second alone
.PHONY: sweep sweep-p15
sweep: $(PROGS) tools
	@BUILD=$(BUILD) sh tests/sweep/sweep.sh; rc=$$?; \
	BUILD=$(BUILD) sh tests/sweep/sweep.sh --p15 || exit 1; exit $$rc
sweep-p15: $(PROGS) tools
	@BUILD=$(BUILD) sh tests/sweep/sweep.sh --p15

# ---- set-up, demo, bench -------------------------------------------------
deps:
	@sh scripts/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh

# cmhost scaled out on this machine: a private PostgreSQL, SCALE_N (3)
# instances, HAProxy on loopback, a load run through it (docs/scaling.md)
scale-demo: deps
	@$(MAKE) --no-print-directory all $(BUILD)/tools/cmp_load
	@BUILD=$(BUILD) sh scripts/scale-demo.sh

bench: deps
	@sh scripts/deps.sh --bench
	@$(MAKE) --no-print-directory all $(BUILD)/tools/cmp_load
	@sh tests/bench/bench.sh
	@sh tests/bench/bench_cmhost.sh
	@sh tests/bench/bench_update.sh
	@sh tests/bench/bench_p15.sh
	@sh tests/bench/bench_ui.sh
	@BUILD=$(BUILD) sh tests/bench/bench_scale.sh

# cmhost scaled out alone: 1, 2, 3 instances on one PostgreSQL behind
# HAProxy, SQLite vs PostgreSQL (BENCH_SCALE_ROUNDS, _SECS, _CLIENTS)
bench-scale: deps
	@sh scripts/deps.sh --bench
	@$(MAKE) --no-print-directory all $(BUILD)/tools/cmp_load
	@BUILD=$(BUILD) sh tests/bench/bench_scale.sh

# the CMP load generator of the bench (libcurl multi; mbedTLS and libcrypto,
# cmhost's libcrypto signer and verifier)
$(BUILD)/tools/cmp_load: tests/bench/cmp_load.c $(LIBCMHOST) $(LIBRATERM)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) $(LIBCMHOST) $(LIBRATERM) \
	    $(LDLIBS_NET) $(LDLIBS_PCSC) $(LDLIBS_CRYPTO) -lcrypto $(LDLIBS)

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
# The officer's account on the station, which runs raterm: it owns the
# journal, the issued certificates and the audit log, and its group may
# read /etc/raterm/pki. Empty: those stay root's (chown them; see
# docs/station.md). vpiv is a test tool and is not installed; cmhost is a
# server (sbin). The configuration is installed only where none exists: a
# station's own settings are never overwritten.
STATION_USER ?=
STATION_GROUP ?= $(STATION_USER)
RT_ETC := $(DESTDIR)$(SYSCONFDIR)/raterm
RT_LIB := $(DESTDIR)$(LOCALSTATEDIR)/lib/raterm
RT_LOG := $(DESTDIR)$(LOCALSTATEDIR)/log/raterm
# cmhost: the binary (sbin), cmhost(8), the systemd unit (ExecStart and the
# configuration's path follow PREFIX and SYSCONFDIR), SYSCONFDIR/cmhost with
# the example configuration beside the one the administrator writes
# (docs/cmhost-operations.md). The service's account and its database
# directory are made by the administrator and systemd (contrib/cmhost.service).
SYSTEMDUNITDIR ?= /lib/systemd/system
CM_ETC := $(DESTDIR)$(SYSCONFDIR)/cmhost
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/raterm $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/raterm.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(SYSTEMDUNITDIR)
	install -d -m 750 $(CM_ETC)
	install -m 755 $(BUILD)/cmhost $(DESTDIR)$(PREFIX)/sbin/
	install -m 644 man/cmhost.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	sed -e 's|/usr/local/sbin/cmhost|$(PREFIX)/sbin/cmhost|' \
	    -e 's|/etc/cmhost/|$(SYSCONFDIR)/cmhost/|' contrib/cmhost.service \
	    >$(DESTDIR)$(SYSTEMDUNITDIR)/cmhost.service.tmp && \
	    chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/cmhost.service.tmp && \
	    mv $(DESTDIR)$(SYSTEMDUNITDIR)/cmhost.service.tmp \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/cmhost.service
	install -m 644 conf/cmhost.example.yaml $(CM_ETC)/
	install -d -m 755 $(RT_ETC) $(RT_ETC)/procedures.d
	install -d -m 750 $(RT_ETC)/pki
	install -d -m 755 $(RT_LIB)
	install -d -m 700 $(RT_LIB)/journal $(RT_LIB)/issued
	install -d -m 750 $(RT_LOG)
	[ -e $(RT_ETC)/raterm.yaml ] || install -m 644 conf/raterm.yaml $(RT_ETC)/
	for f in conf/procedures.d/*.yaml; do \
	    [ -e $(RT_ETC)/procedures.d/$${f##*/} ] || \
	    install -m 644 $$f $(RT_ETC)/procedures.d/; done
	@if [ -n "$(STATION_USER)" ]; then \
	    chgrp $(STATION_GROUP) $(RT_ETC)/pki && \
	    chown $(STATION_USER):$(STATION_GROUP) $(RT_LIB)/journal \
	        $(RT_LIB)/issued $(RT_LOG) && \
	    echo "install: journal, issued and audit directories owned by $(STATION_USER);" \
	        "$(SYSCONFDIR)/raterm/pki readable by group $(STATION_GROUP)"; \
	else \
	    echo "install: no STATION_USER: $(LOCALSTATEDIR)/lib/raterm/journal," \
	        "$(LOCALSTATEDIR)/lib/raterm/issued, $(LOCALSTATEDIR)/log/raterm and" \
	        "$(SYSCONFDIR)/raterm/pki are root's; give them to the officer's account" \
	        "(make install STATION_USER=NAME, or see docs/station.md)"; \
	fi

clean:
	rm -rf build
