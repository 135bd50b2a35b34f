// vmm/virtio/nsm_queue.h — the NSM device's one virtqueue, whatever carries it (the virtio-mmio
// NsmDevice under KVM, the vhost-user NSM backend under --accel tcg). A request arrives in one
// of two layouts, answered in order:
//   - the Linux driver's (drivers/misc/nsm.c): a device-readable chain (the request), then a
//     device-writable chain (room for the response); the request chain is returned with length
//     0, then the response chain with the response's length. If the response chain is not
//     posted yet, the request waits in the ring for the kick that follows it; a request
//     followed by another request (or by nothing but malformed chains) is returned unanswered;
//   - one chain with both parts (readable request, then writable room).
// The request bytes go to the handler (NsmModule::handle), which knows CBOR; this code
// knows only buffers. A request longer than nsm::kMaxRequestSize is handed over cut at
// kMaxRequestSize + 1 bytes (the module answers InputTooLarge); a response longer than the
// writable part is cut (the Linux driver posts 0x3000 bytes, the most a response takes).
//
// Usage (on the device's thread, after a kick):
//     vmm::virtio::NsmQueueRound r = vmm::virtio::serve_nsm_queue(queue, handler);
//     if (r.interrupt) raise_irq();
//     if (r.more) come back soon (the round stopped at kNsmChainsPerRound).
#pragma once

#include "vmm/nsm/nsm_types.h"
#include "vmm/virtio/virtqueue.h"

#include <cstdint>

namespace vmm::virtio {

// Requests served per call, so a guest that floods the queue cannot keep a thread forever.
inline constexpr unsigned kNsmChainsPerRound = 64;

struct NsmQueueRound {
    unsigned served { 0 };     // chains answered (malformed ones are the queue's business)
    bool interrupt { false };  // the driver asked to be interrupted for them
    bool more { false };       // stopped at kNsmChainsPerRound with requests still waiting
};

NsmQueueRound serve_nsm_queue(Virtqueue& queue, const nsm::RequestHandler& handler);

} // namespace vmm::virtio
