# vmm/enclave/: the enclave layer on top of the VMM core and the virtio devices — the launcher
# (`qt-vmm enclave start`), the daemon that owns an enclave, the run directory, the KVM and QEMU
# back ends, and host-quirk detection (which boots the embedded probe guest).
LIBRARIES += vmmenclave
# The nested-KVM fixup (int3 as #BP) and the embedded probe guest are x86's.
ENCLAVE_X86_ONLY := $(if $(filter x86,$(ARCH)),,vmm/enclave/nested_kvm_fixups.cc vmm/enclave/nested_kvm_fixups_test.cc)
vmmenclave_SRCS := $(filter-out %_test.cc %_fuzz.cc $(ENCLAVE_X86_ONLY),$(wildcard vmm/enclave/*.cc))
vmmenclave_LDLIBS := -pthread -lseccomp

UNIT_TESTS += enclave_test
enclave_test_SRCS := $(filter-out $(ENCLAVE_X86_ONLY),$(wildcard vmm/enclave/*_test.cc)) tests/doctest_main.cc
enclave_test_LIBS := $(VMM_LIBS)
enclave_test_LDLIBS := -lcrypto -lz -lcbor

# The control socket is reachable by other local users: the request and reply parsers are fuzzed.
FUZZERS += control_protocol_fuzz
control_protocol_fuzz_SRCS := vmm/enclave/control_protocol_fuzz.cc
control_protocol_fuzz_LIBSRCS := vmm/enclave/control_protocol.cc base/error.cc base/file.cc base/unix_address.cc
control_protocol_fuzz_SEEDGEN := vmm/enclave/make_control_fuzz_seeds.sh

# host-check's user-mode probe is a probe guest embedded in the binary: the x86 one
# (tests/guests/probe, a bzImage) or the arm64 one (tests/guests/probe-arm64, an Image).
PROBE_IMAGE := $(BUILD)/guest/$(if $(filter arm64,$(ARCH)),probe.Image,probe.bzImage)
vmmenclave_OBJS := $(BUILD)/obj/vmm/probe_image.o
$(BUILD)/obj/vmm/probe_image.o: $(PROBE_IMAGE)
	@mkdir -p $(@D)
	printf '.section .rodata\n.balign 16\n.global qtvmm_probe_image_start\n.global qtvmm_probe_image_end\nqtvmm_probe_image_start:\n.incbin "%s"\nqtvmm_probe_image_end:\n.section .note.GNU-stack,"",@progbits\n' \
	  "$(abspath $<)" > $(@:.o=.S)
	$(CC) -c $(@:.o=.S) -o $@
