# arenatrace build. `make` builds build/arenatrace; `make test` runs every test;
# `make demo` traces the bundled retention workload. V=1 shows full commands.
.DELETE_ON_ERROR:
# BPF objects are intermediate to the skeletons; keep them (and rebuild nothing twice).
.SECONDARY:
.DEFAULT_GOAL := all

CLANG   ?= clang
BPFTOOL ?= bpftool
CC      ?= gcc
PYTHON  ?= /usr/bin/python3

ARCH_UNAME := $(shell uname -m)
ARCH := $(subst x86_64,x86,$(subst aarch64,arm64,$(ARCH_UNAME)))

BUILD   := build
OBJ     := $(BUILD)/obj
VMLINUX := vmlinux/$(ARCH_UNAME)/vmlinux.h

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CFLAGS ?= -O2 -g
CFLAGS += -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -MMD -MP \
          -Ibpf -Iuser -I$(OBJ)
LDLIBS := -l:libbpf.a -ldw -lelf -l:libdeflate.a -lz -lprotobuf-c -lmicrohttpd -lpthread

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OBJ)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(OBJ)/%.skel.h,$(BPF_SRCS))

USER_SRCS := $(wildcard user/*.c user/kinds/*.c)
BENCH_SRCS := $(filter-out tests/bench/floor.c,$(wildcard tests/bench/*.c))
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS)) $(BUILD)/bench/floor
# pprof's profile.proto, compiled by protoc-c for user/pprof_export.c.
PROTO_SRCS := $(wildcard user/proto/*.proto)
PROTO_HDRS := $(patsubst user/proto/%.proto,$(OBJ)/%.pb-c.h,$(PROTO_SRCS))
PROTO_OBJS := $(patsubst user/proto/%.proto,$(OBJ)/%.pb-c.o,$(PROTO_SRCS))
USER_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(USER_SRCS)) $(PROTO_OBJS)
# Everything but main.o, linked into the unit tests too.
LIB_OBJS  := $(filter-out $(OBJ)/user/main.o,$(USER_OBJS))

WORKLOAD_SRCS := $(wildcard tests/workloads/*.c)
WORKLOADS     := $(patsubst tests/workloads/%.c,$(BUILD)/workloads/%,$(WORKLOAD_SRCS))

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))

DEPS_STAMP := $(BUILD)/.deps-core
TEST_DEPS_STAMP := $(BUILD)/.deps-test

.PHONY: all deps test-deps test unit integration demo bench clean vmlinux workloads fuzz install uninstall

# `make install [PREFIX=/usr/local] [DESTDIR=]`: the binary and the agent's systemd unit.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system

all: $(BUILD)/arenatrace

# Installs missing Debian packages (scripts/install-deps.sh) once per checkout.
$(DEPS_STAMP): scripts/install-deps.sh
	$(Q)mkdir -p $(BUILD)
	$(Q)scripts/install-deps.sh core
	$(Q)touch $@
$(TEST_DEPS_STAMP): scripts/install-deps.sh
	$(Q)mkdir -p $(BUILD)
	$(Q)scripts/install-deps.sh test
	$(Q)touch $@
deps: $(DEPS_STAMP)
test-deps: $(TEST_DEPS_STAMP)

vmlinux:
	$(Q)scripts/gen-vmlinux.sh

$(OBJ)/%.bpf.o: bpf/%.bpf.c $(VMLINUX) | $(DEPS_STAMP)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) \
		-Ivmlinux/$(ARCH_UNAME) -Ibpf -MMD -MP -c $< -o $@

$(OBJ)/%.skel.h: $(OBJ)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# One protoc-c run writes both files (a grouped pattern rule).
$(OBJ)/%.pb-c.c $(OBJ)/%.pb-c.h: user/proto/%.proto | $(DEPS_STAMP)
	$(call msg,PROTOC-C,$@)
	$(Q)mkdir -p $(OBJ)
	$(Q)protoc-c --proto_path=user/proto --c_out=$(OBJ) $<

$(OBJ)/%.pb-c.o: $(OBJ)/%.pb-c.c $(OBJ)/%.pb-c.h
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# The generated headers before any user object: a first build has no .d files yet.
$(OBJ)/user/%.o: user/%.c $(SKELS) $(PROTO_HDRS) | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/arenatrace: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/workloads/%: tests/workloads/%.c tests/workloads/workload.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O1 -g -Wall -pthread $< -o $@
workloads: $(WORKLOADS)

$(BUILD)/unit/%: tests/unit/%.c $(LIB_OBJS) | $(TEST_DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $< $(LIB_OBJS) $(LDLIBS) -lcmocka -o $@

# floor --toggle arenatrace loads arenatrace's programs with the tracer's own loader.
$(BUILD)/bench/floor: tests/bench/floor.c $(OBJ)/floor.skel.h $(OBJ)/arenatrace.skel.h $(OBJ)/user/loader.o | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $< $(OBJ)/user/loader.o $(LDLIBS) -o $@

$(BUILD)/bench/%: tests/bench/%.c tests/bench/bench_loop.h tests/workloads/workload.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -Wall -pthread $< -o $@

# Speed and memory goals: interleaved runs against the untraced workload.
bench: $(BUILD)/arenatrace $(BENCH_BINS) | $(TEST_DEPS_STAMP)
	$(Q)scripts/install-deps.sh bench
	$(Q)$(PYTHON) tests/bench/bench.py $(BENCH_ARGS)

unit: $(UNIT_TESTS)
	$(Q)set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

integration: $(BUILD)/arenatrace $(WORKLOADS) $(BUILD)/bench/faultloop | $(TEST_DEPS_STAMP)
	$(Q)$(PYTHON) -m pytest -q -rs tests/integration

# The recording reader under libFuzzer with ASan and UBSan (clang), from the seed
# corpus of small real recordings; new inputs go to build/fuzz/work, not the seeds.
FUZZ_SECS ?= 60
FUZZ_BIN  := $(BUILD)/fuzz/fuzz_trace_reader
FUZZ_SRCS := tests/fuzz/fuzz_trace_reader.c user/trace_file.c user/recorder.c

$(FUZZ_BIN): $(FUZZ_SRCS) user/trace_file.h user/recorder.h user/region.h bpf/arenatrace_records.h | $(DEPS_STAMP)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O1 -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -Iuser -Ibpf \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		$(FUZZ_SRCS) -l:libdeflate.a -lz -o $@

fuzz: $(FUZZ_BIN)
	$(Q)mkdir -p $(BUILD)/fuzz/work
	$(Q)echo "== fuzz: $(FUZZ_BIN) for $(FUZZ_SECS) s"
	$(Q)$(FUZZ_BIN) -max_total_time=$(FUZZ_SECS) -print_final_stats=0 -close_fd_mask=3 \
		$(BUILD)/fuzz/work tests/fuzz/corpus 2>$(BUILD)/fuzz/log || \
		{ tail -50 $(BUILD)/fuzz/log; exit 1; }
	$(Q)grep -E '^Done [0-9]+ runs' $(BUILD)/fuzz/log | tail -1

# The fuzzer before pytest, so pytest's summary stays the last line.
test: unit fuzz integration

demo: $(BUILD)/arenatrace $(BUILD)/workloads/retention
	$(Q)scripts/demo.sh

install: $(BUILD)/arenatrace
	$(call msg,INSTALL,$(DESTDIR)$(BINDIR)/arenatrace)
	$(Q)install -D -m 0755 $(BUILD)/arenatrace $(DESTDIR)$(BINDIR)/arenatrace
	$(call msg,INSTALL,$(DESTDIR)$(UNITDIR)/arenatrace-agent.service)
	$(Q)mkdir -p $(DESTDIR)$(UNITDIR)
	$(Q)sed 's|@BINDIR@|$(BINDIR)|g' scripts/arenatrace-agent.service > $(DESTDIR)$(UNITDIR)/arenatrace-agent.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/arenatrace-agent.service

uninstall:
	$(Q)rm -f $(DESTDIR)$(BINDIR)/arenatrace $(DESTDIR)$(UNITDIR)/arenatrace-agent.service

clean:
	$(Q)rm -rf $(BUILD)

-include $(wildcard $(OBJ)/*.d $(OBJ)/user/*.d $(OBJ)/user/kinds/*.d $(BUILD)/unit/*.d)
