# qt-vmm top-level build.
#
#   make              all binaries into $(BUILD) (default build/, or build/san with SAN=1)
#   make test         unit + integration tests; ends with "N passed, N failed[, N skipped]"
#   make kernel       the guest kernel (cached outside the tree, see kernel-config/)
#   make demo         build everything and run a sample enclave
#   make bench        benchmarks (QUICK=1 for one run each)
#   make fuzz         libFuzzer targets (clang); FUZZ_SECONDS=N runs each for N seconds (0: each over its seeds once)
#   make clean        remove $(BUILD)
#
# Each component directory has a module.mk that declares its pieces with the variables below;
# the templates at the end of this file turn them into rules. Nothing else needs editing to add
# a component:
#   LIBRARIES += name          name_SRCS (sources), name_LDLIBS (system libraries it needs),
#                              name_OBJS (extra objects with rules of their own, e.g. embedded blobs)
#   PROGRAMS  += name          name_SRCS, name_LIBS (our libraries, users before what they
#                              use: linked in that order without --start-group, so a library
#                              that needs one listed before it, a cycle, fails to link), name_LDLIBS
#                              name_STATIC_LDLIBS (system libraries taken from their .a, e.g.
#                              crypto z: -lcrypto becomes -l:libcrypto.a; libstdc++ and libgcc go
#                              static too; libc stays shared for NSS; ignored with SAN=1)
#   STATIC_PROGRAMS += name    like PROGRAMS, but linked -static with its own flags (guest side)
#   UNIT_TESTS += name         name_SRCS (doctest files), name_LIBS, name_LDLIBS
#   FUZZERS += name            name_SRCS (one LLVMFuzzerTestOneInput), name_LIBSRCS (sources
#                              compiled with clang + libFuzzer instrumentation), name_LDLIBS

SAN ?= 0

# The target architecture: x86 or arm64 (default: this host's). A native build goes to build/,
# a cross build to build/$(ARCH) with the aarch64-linux-gnu- toolchain and the :arm64 libraries
# (scripts/install-deps.sh installs both; README "Cross-building for arm64"). The VMM's
# architecture back end is vmm/arch/$(ARCH)/.
HOST_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86)
ARCH ?= $(HOST_ARCH)
ifeq ($(filter x86 arm64,$(ARCH)),)
$(error ARCH=$(ARCH) is not a supported architecture; use ARCH=x86 or ARCH=arm64)
endif
CROSS_TRIPLET := $(if $(filter arm64,$(ARCH)),aarch64-linux-gnu,x86_64-linux-gnu)
ifneq ($(ARCH),$(HOST_ARCH))
CROSS_COMPILE ?= $(CROSS_TRIPLET)-
ifeq ($(SAN),1)
$(error SAN=1 is for native builds only (ARCH=$(ARCH) on a $(HOST_ARCH) host); drop SAN=1 or ARCH)
endif
endif

ifeq ($(SAN),1)
BUILD ?= build/san
else ifdef CROSS_COMPILE
BUILD ?= build/$(ARCH)
else
BUILD ?= build
endif

# $(CROSS_COMPILE)-prefixed tools unless set on the command line or in the environment.
ifeq ($(origin CXX),default)
CXX := $(CROSS_COMPILE)g++
endif
ifeq ($(origin CC),default)
CC := $(CROSS_COMPILE)gcc
endif
ifeq ($(origin AR),default)
AR := $(CROSS_COMPILE)ar
endif
CXXSTD := -std=c++20
WARN := -Wall -Wextra -Werror
OPT := -O2 -g
CPPFLAGS := -I. -MMD -MP -D_GNU_SOURCE
CXXFLAGS := $(CXXSTD) $(OPT) $(WARN) -fno-strict-aliasing
CFLAGS := -std=gnu11 $(OPT) $(WARN)
LDFLAGS :=
# Cross: libfdt-dev and libyaml-cpp-dev are not Multi-Arch: same, so their :arm64 copies cannot sit
# beside the amd64 ones. install-deps installs the arm64 runtime libraries (libfdt1, libyaml-cpp0.7);
# the headers are the amd64 -dev's (the same for every architecture), and the link goes through
# a lib<name>.so link in $(BUILD)/syslib to the runtime library (what the -dev's link would be).
CROSS_SYSLIBS := $(if $(CROSS_COMPILE),fdt=libfdt.so.1 yaml-cpp=libyaml-cpp.so.0.7)
SYSLIB_LINKS := $(foreach l,$(CROSS_SYSLIBS),$(BUILD)/syslib/lib$(firstword $(subst =, ,$(l))).so)
ifdef CROSS_COMPILE
LDFLAGS += -L$(BUILD)/syslib
endif
$(foreach l,$(CROSS_SYSLIBS),$(eval $(BUILD)/syslib/lib$(firstword $(subst =, ,$(l))).so: SYSLIB_TARGET := \
  /usr/lib/$(CROSS_TRIPLET)/$(lastword $(subst =, ,$(l)))))
$(SYSLIB_LINKS):
	@test -e $(SYSLIB_TARGET) || { echo "make: $(SYSLIB_TARGET) is missing; run scripts/install-deps.sh" >&2; exit 1; }
	@mkdir -p $(@D) && ln -sfn $(SYSLIB_TARGET) $@

ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CXXFLAGS += $(SANFLAGS)
CFLAGS += $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
endif

LIBRARIES :=
PROGRAMS :=
STATIC_PROGRAMS :=
UNIT_TESTS :=
FUZZERS :=

# The VMM's libraries in link order, users before what they use: the enclave layer
# (vmm/enclave/), the virtio devices (vmm/virtio|vsock|vhost_user/), the VMM core (vmm/kvm,
# memory, arch, devices, vstate), then what they share. No --start-group: a cycle fails to link.
VMM_LIBS := vmmenclave vmmvirtio vmmnsm vmmcore vmmhost eif guest_status base

.PHONY: all test unit-tests test-unit check-elf-arch guest-programs kernel demo bench fuzz clean
all:

include $(sort $(wildcard */module.mk) $(wildcard */*/module.mk))

# --- templates ------------------------------------------------------------------------------

objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(patsubst %.cc,$(BUILD)/obj/%.o,$(1)))

$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

define library_template
$(BUILD)/lib/lib$(1).a: $(call objs,$($(1)_SRCS)) $($(1)_OBJS)
	@mkdir -p $$(@D)
	rm -f $$@ && $(AR) rcs $$@ $$^
ALL_OBJS += $(call objs,$($(1)_SRCS))
endef

libfiles = $(foreach l,$(1),$(BUILD)/lib/lib$(l).a)
libldlibs = $(foreach l,$(1),$($(l)_LDLIBS))
# Our libraries in the order given (users first, no group: the layers must not form a cycle),
# then the system libraries they need.
linklibs = $(call libfiles,$(1)) $(call libldlibs,$(1))

# A program's system libraries with those named in name_STATIC_LDLIBS taken from their archives
# (and the C++ runtime static): fewer shared objects to map and relocate at every exec.
static_ldlibs = $(foreach w,$(2),$(if $(filter $(addprefix -l,$(1)),$(w)),-l:lib$(w:-l%=%).a,$(w)))
program_link = $(if $(and $($(1)_STATIC_LDLIBS),$(filter-out 1,$(SAN))),-static-libstdc++ -static-libgcc \
  $(call static_ldlibs,$($(1)_STATIC_LDLIBS),$(2)),$(2))

define program_template
$(BUILD)/bin/$(1): $(call objs,$($(1)_SRCS)) $(call libfiles,$($(1)_LIBS)) | $(SYSLIB_LINKS)
	@mkdir -p $$(@D)
	$(CXX) $(LDFLAGS) -o $$@ $(call objs,$($(1)_SRCS)) $(call program_link,$(1),$(call linklibs,$($(1)_LIBS)) $($(1)_LDLIBS))
all: $(BUILD)/bin/$(1)
ALL_OBJS += $(call objs,$($(1)_SRCS))
endef

# Guest-side programs: built without sanitizers, always -static, with the flags they ask for.
define static_program_template
$(BUILD)/guest/$(1): $($(1)_SRCS) $(MAKEFILE_LIST)
	@mkdir -p $$(@D)
	$(if $(filter %.c,$($(1)_SRCS)),$(CC) -std=gnu11,$(CXX) $(CXXSTD)) -I. $(WARN) $($(1)_FLAGS) -static \
	  -o $$@ $($(1)_SRCS) $($(1)_LDLIBS)
all: $(BUILD)/guest/$(1)
GUEST_BINS += $(BUILD)/guest/$(1)
endef

define unit_test_template
$(BUILD)/tests/$(1): $(call objs,$($(1)_SRCS)) $(call libfiles,$($(1)_LIBS)) | $(SYSLIB_LINKS)
	@mkdir -p $$(@D)
	$(CXX) $(LDFLAGS) -o $$@ $(call objs,$($(1)_SRCS)) $(call linklibs,$($(1)_LIBS)) $($(1)_LDLIBS)
UNIT_TEST_BINS += $(BUILD)/tests/$(1)
ALL_OBJS += $(call objs,$($(1)_SRCS))
endef

FUZZ_CXXFLAGS := $(CXXSTD) -O1 -g -I. -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined
define fuzzer_template
$(BUILD)/fuzz/$(1): $($(1)_SRCS) $($(1)_LIBSRCS)
	@mkdir -p $$(@D)
	clang++ $(FUZZ_CXXFLAGS) -o $$@ $$^ $($(1)_LDLIBS)
FUZZ_BINS += $(BUILD)/fuzz/$(1)
endef

$(foreach l,$(LIBRARIES),$(eval $(call library_template,$(l))))
$(foreach p,$(PROGRAMS),$(eval $(call program_template,$(p))))
$(foreach p,$(STATIC_PROGRAMS),$(eval $(call static_program_template,$(p))))
$(foreach t,$(UNIT_TESTS),$(eval $(call unit_test_template,$(t))))
$(foreach f,$(FUZZERS),$(eval $(call fuzzer_template,$(f))))

-include $(ALL_OBJS:.o=.d)

# --- top-level targets ----------------------------------------------------------------------

# The kernel lives in a cache outside the tree; $(BUILD)/kernel/ gets links to it so that
# qt-vmm finds it beside its own binary ($(BUILD)/bin/../kernel/bzImage).
# ARCH=arm64: an arm64 Image (kernel-config/build-kernel-arm64.sh), linked as $(BUILD)/kernel/Image.
ifeq ($(ARCH),arm64)
KERNEL_SCRIPT := kernel-config/build-kernel-arm64.sh
KERNEL_IMAGE := Image
else
KERNEL_SCRIPT := kernel-config/build-kernel.sh
KERNEL_IMAGE := bzImage
endif
kernel:
	@$(KERNEL_SCRIPT)
	@k=$$($(KERNEL_SCRIPT) --path) && mkdir -p $(BUILD)/kernel && \
	  ln -sfn $$k $(BUILD)/kernel/$(KERNEL_IMAGE) && ln -sfn $$(dirname $$k)/vmlinux $(BUILD)/kernel/vmlinux && \
	  ln -sfn $$(dirname $$k)/config $(BUILD)/kernel/$(KERNEL_IMAGE).config && \
	  echo "kernel: $$k (linked as $(BUILD)/kernel/$(KERNEL_IMAGE))"

unit-tests: $(UNIT_TEST_BINS)

# Runs every unit-test binary, one after another; a cross build's through qemu-user (explicitly,
# no binfmt needed): make ARCH=arm64 test-unit runs the arm64 tests on an x86 host.
TEST_RUNNER := $(if $(CROSS_COMPILE),qemu-$(if $(filter arm64,$(ARCH)),aarch64,x86_64) -L /usr/$(CROSS_TRIPLET))
# UNITS='base_test eif_test' limits test-unit and check-elf-arch to those unit-test binaries.
SELECTED_UNIT_BINS := $(if $(UNITS),$(addprefix $(BUILD)/tests/,$(UNITS)),$(UNIT_TEST_BINS))
ifneq ($(filter-out $(UNIT_TEST_BINS),$(SELECTED_UNIT_BINS)),)
$(error UNITS: no unit test named $(notdir $(filter-out $(UNIT_TEST_BINS),$(SELECTED_UNIT_BINS))); they are: $(notdir $(UNIT_TEST_BINS)))
endif
# The outputs are for $(ARCH): the guest programs static ELF, the unit tests ELF (scripts/check-elf-arch.sh).
check-elf-arch: $(GUEST_BINS) $(SELECTED_UNIT_BINS)
	@scripts/check-elf-arch.sh $(ARCH) --static $(GUEST_BINS)
	@scripts/check-elf-arch.sh $(ARCH) $(SELECTED_UNIT_BINS)
test-unit: $(SELECTED_UNIT_BINS) check-elf-arch
	@failed=""; for t in $(SELECTED_UNIT_BINS); do echo "test-unit: $(TEST_RUNNER) $$t"; \
	  $(TEST_RUNNER) $$t || failed="$$failed $$(basename $$t)"; done; \
	  if [ -n "$$failed" ]; then echo "test-unit: FAILED:$$failed" >&2; exit 1; fi; \
	  echo "test-unit: all $(words $(SELECTED_UNIT_BINS)) passed ($(ARCH))"

# The guest programs alone (static, no libraries): what a cross build needs for the other
# architecture's tests.
guest-programs: $(GUEST_BINS)

# On an x86 host, make test also cross-builds the arm64 guest programs into $(BUILD)/arm64/guest
# (seconds; no arm64 libraries needed) and the arm64 guest kernel (make kernel ARCH=arm64: about
# 10 minutes on 2 cores the first time, then cached like the x86 one): the arm64 tests under
# --accel tcg and in the arm64 nested L1 run them (arm64_l1_enclave.sh cross-builds the arm64
# qt-vmm itself). Without the cross compiler those tests skip and say so.
ifeq ($(ARCH)$(HOST_ARCH),x86x86)
.PHONY: cross-arm64
cross-arm64:
	@if command -v aarch64-linux-gnu-gcc >/dev/null; then \
	  $(MAKE) --no-print-directory ARCH=arm64 SAN=0 BUILD=$(BUILD)/arm64 guest-programs kernel; \
	else echo "cross-arm64: aarch64-linux-gnu-gcc missing, the arm64 tests will skip (scripts/install-deps.sh)"; fi
test: cross-arm64
endif

# The test runner takes the build directory and runs every unit-test binary and every
# tests/integration/*.sh; see tests/run-tests.sh for the conventions (exit 77 = skip).
test: all unit-tests kernel
	@BUILD=$(abspath $(BUILD)) SAN=$(SAN) tests/run-tests.sh $(UNIT_TEST_BINS)

demo: all kernel
	@BUILD=$(abspath $(BUILD)) scripts/demo.sh

bench: all kernel
	@BUILD=$(abspath $(BUILD)) QUICK=$(QUICK) scripts/bench.sh

# Seeds: tests/fuzz-seeds/<fuzzer>/ (small hand-made inputs) and, for a fuzzer with
# <fuzzer>_SEEDGEN = script, what `script BUILD OUT_DIR` generates into $(BUILD)/fuzz/seeds-<fuzzer>.
FUZZ_SECONDS ?= 60
rparen := )
fuzz: $(FUZZ_BINS) all
	@for f in $(FUZZ_BINS); do \
	  name=$$(basename $$f); mkdir -p $(BUILD)/fuzz/corpus-$$name; \
	  seeds=""; test -d tests/fuzz-seeds/$$name && seeds=tests/fuzz-seeds/$$name; \
	  gen=$$(case $$name in $(foreach f,$(FUZZERS),$(if $($(f)_SEEDGEN),$(f)$(rparen) echo $($(f)_SEEDGEN);;)) *$(rparen) ;; esac); \
	  if [ -n "$$gen" ]; then $$gen $(abspath $(BUILD)) $(BUILD)/fuzz/seeds-$$name >/dev/null || exit 1; seeds="$$seeds $(BUILD)/fuzz/seeds-$$name"; fi; \
	  if [ "$(FUZZ_SECONDS)" = 0 ]; then \
	    echo "fuzz: $$name over its seeds"; $$f -runs=0 $$seeds >$(BUILD)/fuzz/$$name.seeds.log 2>&1 || { tail -n 30 $(BUILD)/fuzz/$$name.seeds.log; exit 1; }; \
	  else \
	    echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(BUILD)/fuzz/corpus-$$name $$seeds || exit 1; \
	  fi; \
	done

clean:
	rm -rf $(BUILD)
