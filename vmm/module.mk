# vmm/: the KVM monitor core (KVM wrappers, guest memory, x86 boot, devices, machine).
LIBRARIES += vmm
vmm_SRCS := $(filter-out %_test.cc,$(wildcard vmm/kvm/*.cc vmm/memory/*.cc vmm/arch/x86/*.cc vmm/devices/*.cc vmm/vstate/*.cc vmm/enclave/*.cc))
vmm_LDLIBS := -pthread
QT_VMM_LIBS += vmm

UNIT_TESTS += vmm_test
vmm_test_SRCS := $(wildcard vmm/kvm/*_test.cc vmm/memory/*_test.cc vmm/arch/x86/*_test.cc vmm/devices/*_test.cc vmm/vstate/*_test.cc vmm/enclave/*_test.cc) tests/doctest_main.cc
vmm_test_LIBS := vmm base
vmm_test_LIBS += vmmhost eif
vmm_test_LDLIBS := -lcrypto -lz -lcbor

# host-check's user-mode probe is the probe guest (tests/guests/probe), embedded in the binary.
vmm_OBJS := $(BUILD)/obj/vmm/probe_image.o
$(BUILD)/obj/vmm/probe_image.o: $(BUILD)/guest/probe.bzImage
	@mkdir -p $(@D)
	printf '.section .rodata\n.balign 16\n.global qtvmm_probe_image_start\n.global qtvmm_probe_image_end\nqtvmm_probe_image_start:\n.incbin "%s"\nqtvmm_probe_image_end:\n.section .note.GNU-stack,"",@progbits\n' \
	  "$(abspath $<)" > $(@:.o=.S)
	$(CC) -c $(@:.o=.S) -o $@
