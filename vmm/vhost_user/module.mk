# vmm/vhost_user/: qt-vmm's devices served to QEMU over vhost-user: the message codec, guest
# memory from SET_MEM_TABLE, the device-independent backend (backend.h), its vsock half (QEMU's
# vhost-user-vsock-device, vmm/vsock/'s VsockCore) and its NSM half (vhost-user-device,
# virtio-id=33, vmm/virtio/nsm_queue), and the Unix socket helpers. `qt-vmm vsock vhost-user` (tools/qt-vmm/) runs one.
# Part of the virtio devices library (vmm/virtio/module.mk).
vmmvirtio_SRCS += $(filter-out %_test.cc %_fuzz.cc,$(wildcard vmm/vhost_user/*.cc))

UNIT_TESTS += vhost_user_test
vhost_user_test_SRCS := $(wildcard vmm/vhost_user/*_test.cc) tests/doctest_main.cc
vhost_user_test_LIBS := vmmvirtio vmmcore guest_status base
vhost_user_test_LDLIBS := -pthread

FUZZERS += vhost_user_fuzz
vhost_user_fuzz_SRCS := vmm/vhost_user/vhost_user_fuzz.cc
vhost_user_fuzz_LIBSRCS := $(filter-out %_test.cc %_fuzz.cc,$(wildcard vmm/vhost_user/*.cc)) vmm/vsock/vsock_core.cc \
  vmm/vsock/vsock_muxer.cc vmm/vsock/vsock_connection.cc vmm/vsock/vsock_services.cc vmm/vsock/vsock_packet.cc \
  vmm/virtio/virtqueue.cc vmm/virtio/nsm_queue.cc guest-init/status_protocol.cc base/error.cc base/file.cc \
  base/eventfd.cc base/loop_task.cc base/unix_address.cc base/hex.cc base/sized_thread.cc
