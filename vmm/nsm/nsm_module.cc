#include "vmm/nsm/nsm_module.h"

#include "vmm/nsm/signature_pace.h"

#include "vmm/nsm/nsm_protocol.h"

#include <atomic>
#include <ctime>
#include <openssl/rand.h>
#include <variant>

namespace vmm::nsm {

struct NsmModule::State {
    explicit State(NsmModuleConfig c)
        : config(std::move(c))
        , bank(config.boot_pcrs)
        , pace(config.signatures_per_second > 0 ? config.signatures_per_second : 50, config.pace_clock, config.pace_sleep)
    {
    }

    NsmModuleConfig config;
    mutable std::mutex mutex;   // guards bank
    PcrBank bank;
    SignaturePace pace;         // thread-safe on its own
    std::atomic<std::uint64_t> requests { 0 };
    std::atomic<std::uint64_t> errors { 0 };
};

namespace {

std::uint64_t realtime_ms()
{
    timespec now {};
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000 + static_cast<std::uint64_t>(now.tv_nsec) / 1000000;
}

struct Reply {
    std::string bytes;
    bool error { false };
};

Reply failed(ErrorCode code)
{
    return { encode_error(code), true };
}

Reply done(std::string bytes)
{
    return { std::move(bytes), false };
}

// Serves one parsed request (std::visit): takes the lock only around the PCR bank.
class Dispatcher {
public:
    Dispatcher(const NsmModuleConfig& config, std::mutex& mutex, PcrBank& bank, SignaturePace& pace)
        : m_config(config)
        , m_mutex(mutex)
        , m_bank(bank)
        , m_pace(pace)
    {
    }

    Reply operator()(const DescribeNsmRequest&)
    {
        std::vector<unsigned> locked;
        {
            std::lock_guard lock(m_mutex);
            locked = m_bank.locked();
        }
        return done(encode_describe_nsm(m_config.module_id, locked));
    }

    Reply operator()(const DescribePcrRequest& r)
    {
        std::optional<PcrState> pcr;
        {
            std::lock_guard lock(m_mutex);
            pcr = m_bank.describe(r.index);
        }
        return pcr ? done(encode_describe_pcr(pcr->locked, pcr->value)) : failed(ErrorCode::InvalidIndex);
    }

    Reply operator()(const ExtendPcrRequest& r)
    {
        Digest value {};
        std::optional<ErrorCode> error;
        {
            std::lock_guard lock(m_mutex);
            error = m_bank.extend(r.index, r.data, value);
        }
        return error ? failed(*error) : done(encode_extend_pcr(value));
    }

    Reply operator()(const LockPcrRequest& r)
    {
        std::optional<ErrorCode> error;
        {
            std::lock_guard lock(m_mutex);
            error = m_bank.lock(r.index);
        }
        return error ? failed(*error) : done(encode_lock_pcr());
    }

    Reply operator()(const LockPcrsRequest& r)
    {
        std::optional<ErrorCode> error;
        {
            std::lock_guard lock(m_mutex);
            error = m_bank.lock_range(r.range);
        }
        return error ? failed(*error) : done(encode_lock_pcrs());
    }

    Reply operator()(const AttestationRequest& r)
    {
        if (!m_config.sign)
            return failed(ErrorCode::InternalError);
        m_pace.wait(); // a guest asking in a loop gets documents at the module's pace
        DocumentFields fields;
        fields.module_id = m_config.module_id;
        fields.timestamp_ms = m_config.now_ms ? m_config.now_ms() : realtime_ms();
        {
            // Locked PCRs never change again: the snapshot stays true while we sign unlocked.
            std::lock_guard lock(m_mutex);
            fields.pcrs = m_bank.locked_values();
        }
        fields.user_data = r.user_data;
        fields.nonce = r.nonce;
        fields.public_key = r.public_key;
        std::string document;
        try {
            document = m_config.sign(fields);
        } catch (...) {
            return failed(ErrorCode::InternalError);
        }
        // A document the response cannot carry (say, a huge certificate chain: the host's set-up,
        // not the guest's fault) is the module's failure, like a signer that failed.
        if (document.empty() || document.size() > max_document_size())
            return failed(ErrorCode::InternalError);
        return done(encode_attestation(document));
    }

    Reply operator()(const GetRandomRequest&)
    {
        std::string random(kRandomSize, '\0');
        if (RAND_bytes(reinterpret_cast<unsigned char*>(random.data()), static_cast<int>(random.size())) != 1)
            return failed(ErrorCode::InternalError);
        return done(encode_get_random(random));
    }

private:
    const NsmModuleConfig& m_config;
    std::mutex& m_mutex;
    PcrBank& m_bank;
    SignaturePace& m_pace;
};

} // namespace

NsmModule::NsmModule(NsmModuleConfig config)
    : m_state(std::make_unique<State>(std::move(config)))
{
}

NsmModule::~NsmModule() = default;

std::string NsmModule::handle(std::string_view request) noexcept
{
    State& s = *m_state;
    s.requests.fetch_add(1, std::memory_order_relaxed);
    Reply reply;
    try {
        ParsedRequest parsed = parse_request(request);
        if (parsed.error)
            reply = failed(*parsed.error);
        else
            reply = std::visit(Dispatcher(s.config, s.mutex, s.bank, s.pace), parsed.request);
    } catch (...) {
        reply = {};
    }
    bool usable = !reply.bytes.empty() && reply.bytes.size() <= kMaxResponseSize;
    if (reply.error || !usable)
        s.errors.fetch_add(1, std::memory_order_relaxed);
    if (usable)
        return std::move(reply.bytes);
    try {
        return std::string(kInternalErrorResponse);
    } catch (...) {
        return {}; // out of memory even for 21 bytes: an empty response (the transport sends 0 bytes)
    }
}

std::vector<PcrState> NsmModule::pcrs() const
{
    std::lock_guard lock(m_state->mutex);
    return m_state->bank.all();
}

std::uint64_t NsmModule::requests() const
{
    return m_state->requests.load(std::memory_order_relaxed);
}

std::uint64_t NsmModule::errors() const
{
    return m_state->errors.load(std::memory_order_relaxed);
}

} // namespace vmm::nsm
