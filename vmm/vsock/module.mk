# vmm/vsock/: the virtio-vsock device (over vmm/virtio/), its connection muxer with the
# parent's Unix sockets (Firecracker's hybrid vsock), the heartbeat and status services.
# Part of the virtio devices library (vmm/virtio/module.mk).
vmmvirtio_SRCS += $(filter-out %_test.cc %_fuzz.cc,$(wildcard vmm/vsock/*.cc))

UNIT_TESTS += vsock_test
vsock_test_SRCS := $(wildcard vmm/virtio/*_test.cc vmm/vsock/*_test.cc) tests/doctest_main.cc
vsock_test_LIBS := vmmvirtio vmmcore guest_status base
vsock_test_LDLIBS := -pthread

FUZZERS += vsock_device_fuzz
vsock_device_fuzz_SRCS := vmm/vsock/vsock_device_fuzz.cc
vsock_device_fuzz_LIBSRCS := vmm/vsock/vsock_device.cc vmm/vsock/vsock_core.cc vmm/vsock/vsock_muxer.cc vmm/vsock/vsock_connection.cc \
  vmm/vsock/vsock_services.cc vmm/vsock/vsock_packet.cc vmm/virtio/mmio_transport.cc vmm/virtio/virtqueue.cc \
  guest-init/status_protocol.cc base/error.cc base/file.cc base/eventfd.cc base/loop_task.cc base/unix_address.cc base/hex.cc base/sized_thread.cc
