# tests/tools/: parent-side helper programs of the integration tests.
# vsock_peer: the parent end of the vsock end-to-end tests (tests/integration/tcg_*.sh), talking
# to tests/apps/app_vsock.c through an enclave's VsockSocket; see tests/apps/README.md.
PROGRAMS += vsock_peer
vsock_peer_SRCS := tests/tools/vsock_peer.cc
vsock_peer_LIBS := vmmvirtio base

# attestation_sign_doc: signs NSM attestation documents with the daemon's DocumentSigner for
# tests/integration/attestation_cli.sh (qt-vmm itself never signs on request).
PROGRAMS += attestation_sign_doc
attestation_sign_doc_SRCS := tests/tools/attestation_sign_doc.cc
attestation_sign_doc_LIBS := vmmnsm eif base
attestation_sign_doc_LDLIBS := -lcbor -lcrypto

# nsm_boot_probe: boots a kernel on the KVM VMM with the NSM device and a stub handler, and
# reports whether the guest's NSM driver bound and what it asked (tests/integration/vmm_nsm_probe.sh).
PROGRAMS += nsm_boot_probe
nsm_boot_probe_SRCS := tests/tools/nsm_boot_probe.cc
nsm_boot_probe_LIBS := $(VMM_LIBS)
nsm_boot_probe_LDLIBS := -lcrypto -lz -lcbor -lseccomp -pthread

# nsm_vhost_user_stub: the vhost-user NSM backend with a fixed-answer handler, for
# tests/integration/vhost_user_qemu.sh (QEMU's vhost-user-device, the guest's nsm driver).
PROGRAMS += nsm_vhost_user_stub
nsm_vhost_user_stub_SRCS := tests/tools/nsm_vhost_user_stub.cc
nsm_vhost_user_stub_LIBS := vmmvirtio base
