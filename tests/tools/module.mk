# tests/tools/: parent-side helper programs of the integration tests.
# vsock_peer: the parent end of the vsock end-to-end tests (tests/integration/tcg_*.sh), talking
# to tests/apps/app_vsock.c through an enclave's VsockSocket; see tests/apps/README.md.
PROGRAMS += vsock_peer
vsock_peer_SRCS := tests/tools/vsock_peer.cc
vsock_peer_LIBS := vmmvirtio base

# nsm_vhost_user_stub: the vhost-user NSM backend with a fixed-answer handler, for
# tests/integration/vhost_user_qemu.sh (QEMU's vhost-user-device, the guest's nsm driver).
PROGRAMS += nsm_vhost_user_stub
nsm_vhost_user_stub_SRCS := tests/tools/nsm_vhost_user_stub.cc
nsm_vhost_user_stub_LIBS := vmmvirtio base
