# vmm/virtio/, vmm/vsock/, vmm/vhost_user/: the virtio devices library (libvmmvirtio), on top of
# the VMM core — the virtio-mmio v2 transport and split virtqueues here, the virtio-vsock device
# in vmm/vsock/, its vhost-user front end in vmm/vhost_user/ (each module.mk adds its sources).
# Its tests live in vsock_test and vhost_user_test.
LIBRARIES += vmmvirtio
vmmvirtio_SRCS += $(filter-out %_test.cc %_fuzz.cc,$(wildcard vmm/virtio/*.cc))
vmmvirtio_LDLIBS := -pthread

FUZZERS += nsm_device_fuzz
nsm_device_fuzz_SRCS := vmm/virtio/nsm_device_fuzz.cc
nsm_device_fuzz_LIBSRCS := vmm/virtio/nsm_device.cc vmm/virtio/nsm_queue.cc vmm/virtio/mmio_transport.cc vmm/virtio/virtqueue.cc \
  base/error.cc base/file.cc base/eventfd.cc base/loop_task.cc base/sized_thread.cc
