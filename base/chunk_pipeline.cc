// base/chunk_pipeline.cc — see chunk_pipeline.h.
#include "base/chunk_pipeline.h"

#include "base/file.h"

#include <algorithm>
#include <cstring>
#include <sched.h>

namespace base {

unsigned available_cpus()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0)
        return 1;
    return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
}

ChunkPipeline::ChunkPipeline(std::vector<Stage> stages)
    : ChunkPipeline(std::move(stages), Options {})
{
}

ChunkPipeline::ChunkPipeline(std::vector<Stage> stages, Options options)
    : m_stages(std::move(stages))
    , m_chunk_size(std::max<std::size_t>(options.chunk_size, 1))
{
    unsigned cpus = options.cpus ? options.cpus : available_cpus();
    if (cpus <= 1 || m_stages.empty())
        return;
    m_slots.resize(std::max<std::size_t>(options.chunks, 2));
    for (Slot& slot : m_slots)
        slot.bytes.resize(m_chunk_size);
    m_next.assign(m_stages.size(), 0);
    try {
        for (std::size_t i = 0; i < m_stages.size(); ++i)
            m_threads.emplace_back([this, i] { run_stage(i); });
    } catch (...) {
        stop(); // joins the threads already started
        throw;
    }
}

ChunkPipeline::~ChunkPipeline()
{
    stop();
}

void ChunkPipeline::stop()
{
    {
        std::lock_guard lock(m_lock);
        m_stopping = true;
    }
    m_work.notify_all();
    m_space.notify_all();
    for (std::thread& t : m_threads)
        if (t.joinable())
            t.join();
}

void ChunkPipeline::rethrow_locked(std::unique_lock<std::mutex>& lock)
{
    if (!m_error)
        return;
    // No stage may still be inside a chunk once the caller sees the error: it goes on to clean up
    // what the stages write to.
    m_space.wait(lock, [&] { return m_busy == 0; });
    std::rethrow_exception(m_error);
}

void ChunkPipeline::run_inline(const std::uint8_t* data, std::size_t size)
{
    if (m_error)
        std::rethrow_exception(m_error);
    try {
        for (const Stage& stage : m_stages)
            stage(data, size);
    } catch (...) {
        m_error = std::current_exception(); // later calls fail the same way, as threaded ones do
        throw;
    }
}

void ChunkPipeline::publish_locked()
{
    Slot& slot = m_slots[m_published % m_slots.size()];
    slot.size = m_fill;
    slot.stages_left = m_stages.size();
    ++m_published;
    m_fill = 0;
    m_filling = false;
    m_work.notify_all();
}

void ChunkPipeline::push(const void* data, std::size_t size)
{
    const auto* p = static_cast<const std::uint8_t*>(data);
    if (!threaded()) {
        if (size > 0)
            run_inline(p, size);
        return;
    }
    fill(size, [&](std::uint8_t* to, std::size_t n) {
        std::memcpy(to, p, n);
        p += n;
    });
}

void ChunkPipeline::push_from_file(int fd, std::uint64_t offset, std::uint64_t size, const std::string& name)
{
    if (!threaded()) {
        read_in_pieces(fd, offset, size, m_chunk_size, name, [this](const std::uint8_t* p, std::size_t n) { run_inline(p, n); });
        return;
    }
    fill(size, [&](std::uint8_t* to, std::size_t n) {
        pread_exact(fd, to, n, offset, name);
        offset += n;
    });
}

void ChunkPipeline::fill(std::uint64_t size, const std::function<void(std::uint8_t*, std::size_t)>& produce)
{
    std::unique_lock lock(m_lock);
    while (size > 0) {
        Slot& slot = m_slots[m_published % m_slots.size()];
        if (!m_filling) {
            m_space.wait(lock, [&] { return slot.stages_left == 0 || m_error; });
            rethrow_locked(lock);
            m_filling = true;
        }
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, m_chunk_size - m_fill));
        // The slot is the producer's alone until it is published: fill it without the lock.
        lock.unlock();
        produce(slot.bytes.data() + m_fill, n);
        lock.lock();
        m_fill += n;
        size -= n;
        if (m_fill == m_chunk_size)
            publish_locked();
    }
    rethrow_locked(lock);
}

void ChunkPipeline::drain()
{
    if (!threaded()) {
        if (m_error)
            std::rethrow_exception(m_error);
        return;
    }
    std::unique_lock lock(m_lock);
    if (m_filling && m_fill > 0)
        publish_locked();
    m_space.wait(lock, [&] {
        return m_error || std::all_of(m_next.begin(), m_next.end(), [&](std::uint64_t next) { return next == m_published; });
    });
    rethrow_locked(lock);
}

void ChunkPipeline::run_stage(std::size_t index)
{
    std::unique_lock lock(m_lock);
    for (;;) {
        m_work.wait(lock, [&] { return m_stopping || m_error || m_next[index] < m_published; });
        if (m_stopping || m_error)
            return;
        Slot& slot = m_slots[m_next[index] % m_slots.size()];
        ++m_busy;
        lock.unlock();
        try {
            m_stages[index](slot.bytes.data(), slot.size);
        } catch (...) {
            lock.lock();
            --m_busy;
            if (!m_error)
                m_error = std::current_exception();
            m_work.notify_all();
            m_space.notify_all();
            return;
        }
        lock.lock();
        --m_busy;
        ++m_next[index];
        --slot.stages_left;
        m_space.notify_all(); // a free slot, or (drain) a stage that caught up
    }
}

} // namespace base
