#include "vmm/nsm/pcr_bank.h"

namespace vmm::nsm {

PcrBank::PcrBank(const std::array<Digest, kPcrsLockedAtBoot>& boot_pcrs)
{
    for (unsigned i = 0; i < kPcrCount; ++i) {
        m_pcrs[i].index = i;
        if (i < kPcrsLockedAtBoot) {
            m_pcrs[i].value = boot_pcrs[i];
            m_pcrs[i].locked = true;
        }
    }
}

std::optional<PcrState> PcrBank::describe(unsigned index) const
{
    if (index >= kPcrCount)
        return std::nullopt;
    return m_pcrs[index];
}

std::optional<ErrorCode> PcrBank::extend(unsigned index, std::string_view data, Digest& new_value)
{
    if (index >= kPcrCount)
        return ErrorCode::InvalidIndex;
    PcrState& pcr = m_pcrs[index];
    if (pcr.locked)
        return ErrorCode::ReadOnlyIndex;
    eif::Sha384 hash;
    hash.update(pcr.value.data(), pcr.value.size());
    hash.update(data.data(), data.size());
    pcr.value = hash.finish();
    new_value = pcr.value;
    return std::nullopt;
}

std::optional<ErrorCode> PcrBank::lock(unsigned index)
{
    if (index >= kPcrCount)
        return ErrorCode::InvalidIndex;
    if (m_pcrs[index].locked)
        return ErrorCode::ReadOnlyIndex;
    m_pcrs[index].locked = true;
    return std::nullopt;
}

std::optional<ErrorCode> PcrBank::lock_range(unsigned range)
{
    if (range > kPcrCount)
        return ErrorCode::InvalidIndex;
    for (unsigned i = 0; i < range; ++i)
        m_pcrs[i].locked = true;
    return std::nullopt;
}

std::vector<unsigned> PcrBank::locked() const
{
    std::vector<unsigned> out;
    for (const PcrState& pcr : m_pcrs)
        if (pcr.locked)
            out.push_back(pcr.index);
    return out;
}

std::map<unsigned, Digest> PcrBank::locked_values() const
{
    std::map<unsigned, Digest> out;
    for (const PcrState& pcr : m_pcrs)
        if (pcr.locked)
            out.emplace(pcr.index, pcr.value);
    return out;
}

std::vector<PcrState> PcrBank::all() const
{
    return { m_pcrs.begin(), m_pcrs.end() };
}

} // namespace vmm::nsm
