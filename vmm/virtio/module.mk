# vmm/virtio/: device-independent virtio — the virtio-mmio v2 transport and the split virtqueue
# over bounds-checked guest memory. Device models (vmm/vsock/) sit on top; its tests live in
# vsock_test (vmm/vsock/module.mk).
LIBRARIES += vmmvirtio
vmmvirtio_SRCS := $(filter-out %_test.cc %_fuzz.cc,$(wildcard vmm/virtio/*.cc))
QT_VMM_LIBS += vmmvirtio
