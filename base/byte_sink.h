// base/byte_sink.h — where a stream of bytes goes, for writers that produce it piece by piece
// (a cpio archive, an EIF section). Pieces are bytes in memory, or ranges of a file: a receiver
// that can read a range straight into its own buffers (base::ChunkPipeline::push_from_file)
// says so with `file_range`, which saves copying the bytes through the writer's buffer first;
// without it, from_file() reads the range in 1 MiB pieces and passes them on.
//
// Usage:
//     base::ByteSink sink = [&](const void* p, std::size_t n) { out.append((const char*)p, n); };
//     sink(header, 110);
//     sink.from_file(fd, 0, size, "init");     // the same as reading it and calling sink(...)
//
//     base::ByteSink direct { [&](const void* p, std::size_t n) { pipe.push(p, n); },
//                             [&](int fd, std::uint64_t at, std::uint64_t n, const std::string& name) { pipe.push_from_file(fd, at, n, name); } };
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

namespace base {

class ByteSink {
public:
    using Bytes = std::function<void(const void* data, std::size_t size)>;
    using FileRange = std::function<void(int fd, std::uint64_t offset, std::uint64_t size, const std::string& name)>;

    ByteSink(Bytes bytes, FileRange file_range = {})
        : m_bytes(std::move(bytes))
        , m_file_range(std::move(file_range))
    {
    }
    // Any callable taking (const void*, size_t), so that a lambda is a sink.
    template <typename F>
        requires(!std::is_same_v<std::decay_t<F>, ByteSink> && std::is_invocable_v<F&, const void*, std::size_t>)
    ByteSink(F bytes)
        : m_bytes(std::move(bytes))
    {
    }

    void operator()(const void* data, std::size_t size) const { m_bytes(data, size); }
    // size bytes of fd from offset on; throws base::Error naming `name` on a short read.
    void from_file(int fd, std::uint64_t offset, std::uint64_t size, const std::string& name) const;

private:
    Bytes m_bytes;
    FileRange m_file_range;
};

} // namespace base
