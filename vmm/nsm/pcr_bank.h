// vmm/nsm/pcr_bank.h — the NSM's 32 SHA-384 PCRs and their lock rules (nitro-enclaves.md §5.3):
// 0..15 hold what the VMM measured and are locked from boot; 16..31 start at zero, may be extended
// (new = SHA384(old ‖ data), data of any length, not pre-hashed) and then locked by the app. A
// locked PCR never changes again, so its value may be read without further synchronisation by
// whoever took a snapshot. Not thread-safe itself: NsmModule serialises the calls.
//
// Usage:
//     vmm::nsm::PcrBank bank(boot_pcrs);
//     vmm::nsm::Digest value;
//     if (auto error = bank.extend(16, data, value)) return encode_error(*error);
//     bank.lock(16);
//     std::map<unsigned, vmm::nsm::Digest> signed_pcrs = bank.locked_values();
#pragma once

#include "vmm/nsm/nsm_protocol.h"
#include "vmm/nsm/nsm_types.h"

#include <array>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

namespace vmm::nsm {

// One PCR as DescribePCR and `query` show it.
struct PcrState {
    unsigned index { 0 };
    Digest value {};
    bool locked { false };
};

class PcrBank {
public:
    explicit PcrBank(const std::array<Digest, kPcrsLockedAtBoot>& boot_pcrs);

    // nullopt: index ≥ kPcrCount.
    std::optional<PcrState> describe(unsigned index) const;
    // Each returns nullopt on success, else the error to answer: InvalidIndex (index ≥ 32, range
    // > 32), ReadOnlyIndex (extending or locking a PCR that is already locked — 0..15 always are).
    // LockPCRs locks 0..range-1 whatever their state (the Nitro NSM accepts LockPCRs(32) after
    // 16..31 were locked one by one), so it fails only on its range.
    std::optional<ErrorCode> extend(unsigned index, std::string_view data, Digest& new_value);
    std::optional<ErrorCode> lock(unsigned index);
    std::optional<ErrorCode> lock_range(unsigned range);

    // Locked indexes, ascending (DescribeNSM locked_pcrs).
    std::vector<unsigned> locked() const;
    // Locked PCRs and their values, ascending (what an attestation document carries).
    std::map<unsigned, Digest> locked_values() const;
    std::vector<PcrState> all() const;

private:
    std::array<PcrState, kPcrCount> m_pcrs {};
};

} // namespace vmm::nsm
