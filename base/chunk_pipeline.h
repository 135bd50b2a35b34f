// base/chunk_pipeline.h — feeds one stream of bytes to several stages (a hash, a CRC and a file
// write, …), each on its own thread, through a bounded ring of chunk buffers: the producer copies
// its bytes into the ring and goes on producing while the stages work, so a stream costs about
// its slowest stage instead of the sum of all of them. Every stage sees every byte, in order,
// exactly once. With one CPU available (sched_getaffinity) the stages run inline in push(), in
// stage order, on the caller's bytes: the same bytes, no threads.
//
// An exception thrown by a stage stops every stage (each finishes the chunk it is on and takes
// no more) and is rethrown by the next push() or drain(), once no stage is inside a chunk; the
// stages then receive nothing more.
// The destructor stops and joins the threads without throwing, so an error anywhere (in the
// producer too) unwinds cleanly; destroy the pipeline before what its stages write to.
//
// Usage:
//     base::ChunkPipeline pipe({ [&](const std::uint8_t* p, std::size_t n) { sha.update(p, n); },
//                                [&](const std::uint8_t* p, std::size_t n) { file.write(p, n); } });
//     pipe.push(data, n);      // any number of times; blocks while the ring is full
//     pipe.drain();            // every byte pushed has been through every stage
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace base {

// CPUs this thread may run on (sched_getaffinity), at least 1.
unsigned available_cpus();

class ChunkPipeline {
public:
    using Stage = std::function<void(const std::uint8_t* data, std::size_t size)>;
    struct Options {
        unsigned cpus { 0 };                   // 0 = available_cpus(); 1 = run the stages inline
        std::size_t chunk_size { 256 * 1024 }; // bytes per ring buffer
        std::size_t chunks { 8 };              // ring buffers (the bound on bytes in flight)
    };

    explicit ChunkPipeline(std::vector<Stage> stages);
    ChunkPipeline(std::vector<Stage> stages, Options options);
    ChunkPipeline(const ChunkPipeline&) = delete;
    ChunkPipeline& operator=(const ChunkPipeline&) = delete;
    ~ChunkPipeline();

    // Hands size bytes to every stage. Throws the first stage error.
    void push(const void* data, std::size_t size);
    // Hands size bytes of fd from offset on to every stage, read straight into the ring (one copy
    // less than reading them first and pushing them). Throws base::Error naming `name` on a short
    // read, or the first stage error.
    void push_from_file(int fd, std::uint64_t offset, std::uint64_t size, const std::string& name);
    // Returns when every byte pushed so far has been through every stage. Throws the first stage error.
    void drain();
    // True when the stages run on threads of their own.
    bool threaded() const { return !m_threads.empty(); }

private:
    struct Slot {
        std::vector<std::uint8_t> bytes;
        std::size_t size { 0 };
        std::size_t stages_left { 0 };
    };
    void run_stage(std::size_t index);
    void stop();
    void publish_locked();
    void rethrow_locked(std::unique_lock<std::mutex>& lock);
    void run_inline(const std::uint8_t* data, std::size_t size);
    // Threaded push: produce(to, n) writes the next n bytes of the stream into the ring at `to`.
    void fill(std::uint64_t size, const std::function<void(std::uint8_t*, std::size_t)>& produce);

    std::vector<Stage> m_stages;
    std::size_t m_chunk_size;
    std::mutex m_lock;
    std::condition_variable m_work;   // stages wait for chunks
    std::condition_variable m_space;  // the producer waits for a free slot or the drain
    std::vector<Slot> m_slots;
    std::uint64_t m_published { 0 };  // chunks handed to the stages
    std::vector<std::uint64_t> m_next; // per stage: the next chunk it takes
    std::size_t m_fill { 0 };          // bytes in the slot being filled (m_published % ring)
    bool m_filling { false };          // the producer holds slot m_published % ring
    bool m_stopping { false };
    std::size_t m_busy { 0 };          // stages inside a chunk (running their function unlocked)
    std::exception_ptr m_error;
    std::vector<std::thread> m_threads;
};

} // namespace base
