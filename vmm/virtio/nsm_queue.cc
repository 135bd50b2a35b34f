// vmm/virtio/nsm_queue.cc — see nsm_queue.h.
#include "vmm/virtio/nsm_queue.h"

#include <algorithm>
#include <string>

namespace vmm::virtio {

NsmQueueRound serve_nsm_queue(Virtqueue& queue, const nsm::RequestHandler& handler)
{
    NsmQueueRound round;
    if (!queue.ready())
        return round;
    DescriptorChain chain;
    std::string request;
    for (;;) {
        while (round.served < kNsmChainsPerRound && queue.pop(chain)) {
            std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(chain.readable_bytes, nsm::kMaxRequestSize + 1));
            request.resize(take);
            request.resize(copy_from_segments(chain.readable, 0, request.data(), take));
            std::string response = handler(request);
            std::size_t written = copy_to_segments(chain.writable, 0, response.data(),
                static_cast<std::size_t>(std::min<std::uint64_t>(response.size(), chain.writable_bytes)));
            queue.add_used(chain.head, static_cast<std::uint32_t>(written));
            ++round.served;
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
