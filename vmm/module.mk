# vmm/: the VMM core — KVM wrappers, guest memory, the architecture (vmm/arch/$(ARCH)), legacy devices and the I/O bus,
# the machine and its virtio-mmio device manager. Hardware reasons only: nothing here knows of
# vsock, enclaves or QEMU. The layers above: vmm/virtio|vsock|vhost_user/ (libvmmvirtio, the
# virtio devices) and vmm/enclave/ (libvmmenclave); each may use the ones below, never above,
# and programs link them in that order (no --start-group), so a cycle fails to link.
# libvmmhost (vmm/host, vmm/placement) sits below this one: the machine pins vCPUs with it.
# The architecture (vmm/arch/machine_arch.h): the top-level Makefile sets ARCH (x86 | arm64).
ARCH ?= x86
LIBRARIES += vmmcore
vmmcore_SRCS := $(filter-out %_test.cc,$(wildcard vmm/kvm/*.cc vmm/memory/*.cc vmm/arch/$(ARCH)/*.cc vmm/devices/*.cc vmm/vstate/*.cc))
vmmcore_LDLIBS := -pthread $(if $(filter arm64,$(ARCH)),-lfdt)

UNIT_TESTS += vmm_test
vmm_test_SRCS := $(wildcard vmm/kvm/*_test.cc vmm/memory/*_test.cc vmm/arch/$(ARCH)/*_test.cc vmm/devices/*_test.cc vmm/vstate/*_test.cc) tests/doctest_main.cc
vmm_test_LIBS := vmmcore vmmhost base

# arm64's boot pieces that need no KVM (Image header, boot layout, device tree by libfdt): built
# and tested on every host. On arm64 they are part of vmmcore with the rest of vmm/arch/arm64.
UNIT_TESTS += arm64_boot_test
arm64_boot_test_SRCS := vmm/arch/arm64/image.cc vmm/arch/arm64/boot_setup.cc vmm/arch/arm64/device_tree.cc \
  vmm/arch/arm64/boot_test.cc vmm/arch/arm64/device_tree_test.cc tests/doctest_main.cc
arm64_boot_test_LIBS := vmmcore vmmhost base
arm64_boot_test_LDLIBS := -lfdt
