// vmm/virtio/nsm_queue.cc — see nsm_queue.h.
#include "vmm/virtio/nsm_queue.h"

#include <algorithm>
#include <string>

namespace vmm::virtio {

namespace {

// Hands the request in `request_chain` to the handler and writes the response into
// `response_chain`'s writable part (they are the same chain in the one-chain layout).
void answer(Virtqueue& queue, const DescriptorChain& request_chain, const DescriptorChain& response_chain,
    const nsm::RequestHandler& handler, std::string& request)
{
    std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(request_chain.readable_bytes, nsm::kMaxRequestSize + 1));
    request.resize(take);
    request.resize(copy_from_segments(request_chain.readable, 0, request.data(), take));
    std::string response = handler(request);
    std::size_t written = copy_to_segments(response_chain.writable, 0, response.data(),
        static_cast<std::size_t>(std::min<std::uint64_t>(response.size(), response_chain.writable_bytes)));
    if (&request_chain != &response_chain)
        queue.add_used(request_chain.head, 0);
    queue.add_used(response_chain.head, static_cast<std::uint32_t>(written));
}

} // namespace

NsmQueueRound serve_nsm_queue(Virtqueue& queue, const nsm::RequestHandler& handler)
{
    NsmQueueRound round;
    if (!queue.ready())
        return round;
    DescriptorChain chain;
    DescriptorChain reply;
    std::string request;
    bool rearmed_for_reply = false;
    for (;;) {
        bool waiting_for_reply = false;
        while (round.served < kNsmChainsPerRound && queue.pop(chain)) {
            if (!chain.writable.empty() || chain.readable.empty()) {
                answer(queue, chain, chain, handler, request); // one chain: request, then room for the response
                ++round.served;
                continue;
            }
            // The Linux driver's layout: a device-readable chain, then a device-writable one.
            std::uint16_t after_request = queue.next_avail();
            if (!queue.pop(reply)) {
                if (queue.next_avail() == after_request) {
                    queue.undo_pop(); // its response buffer is not posted yet: take both next time
                    waiting_for_reply = true;
                    break;
                }
                queue.add_used(chain.head, 0); // only malformed chains followed: nothing to answer into
            } else if (!reply.readable.empty()) {
                queue.undo_pop();              // another request, not a response buffer: served next
                queue.add_used(chain.head, 0); // this one has nowhere to be answered
            } else {
                answer(queue, chain, reply, handler, request);
            }
            ++round.served;
        }
        if (waiting_for_reply) {
            // Ask for the kick that follows the response buffer (avail_event = this request),
            // then look once more: it may have been posted before the request was re-armed.
            if (rearmed_for_reply)
                break;
            queue.enable_notifications();
            rearmed_for_reply = true;
            continue;
        }
        if (round.served >= kNsmChainsPerRound) {
            round.more = queue.has_available();
            break;
        }
        if (!queue.enable_notifications())
            break;
    }
    round.interrupt = queue.needs_interrupt();
    return round;
}

} // namespace vmm::virtio
