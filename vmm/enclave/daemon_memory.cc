#include "vmm/enclave/daemon_memory.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <malloc.h>
#include <optional>
#include <sys/mman.h>
#include <unistd.h>

namespace vmm {

void use_one_malloc_arena()
{
    ::mallopt(M_ARENA_MAX, 1);
}

void release_free_heap()
{
    ::malloc_trim(0);
}

namespace {

// One mapping of smaps: its header line and the fields that decide whether it may be dropped.
struct SmapsEntry {
    MemoryRange range;
    bool read_only_private_file { false };
    bool anonymous_pages { true };  // unknown until "Anonymous:" is read: keep
    bool small_pages { false };     // KernelPageSize 4 kB
    bool special { true };          // VM_IO, VM_PFNMAP, locked, hugetlb; unknown until "VmFlags:" is read

    bool droppable() const { return read_only_private_file && !anonymous_pages && small_pages && !special; }
};

std::vector<std::string_view> words(std::string_view line)
{
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ')
            ++i;
        std::size_t j = line.find(' ', i);
        if (j == std::string_view::npos)
            j = line.size();
        if (j > i)
            out.push_back(line.substr(i, j - i));
        i = j;
    }
    return out;
}

bool parse_hex(std::string_view text, std::uintptr_t& value)
{
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
    return ec == std::errc() && end == text.data() + text.size();
}

// "7f12a000-7f12c000 r-xp 00000000 08:01 1234 /usr/lib/x.so": a mapping's first line, or nothing.
std::optional<SmapsEntry> parse_header(std::string_view line)
{
    std::vector<std::string_view> f = words(line);
    if (f.size() < 5)
        return std::nullopt;
    std::size_t dash = f[0].find('-');
    SmapsEntry entry;
    if (dash == std::string_view::npos || !parse_hex(f[0].substr(0, dash), entry.range.start)
        || !parse_hex(f[0].substr(dash + 1), entry.range.end) || entry.range.end <= entry.range.start)
        return std::nullopt;
    bool read_only = f[1] == "r-xp" || f[1] == "r--p";
    bool file = f.size() >= 6 && f[4] != "0" && f[5].starts_with('/') && !f[5].starts_with("/memfd:")
        && !f[5].starts_with("/dev/");
    entry.read_only_private_file = read_only && file;
    return entry;
}

// "Anonymous:  4 kB" → 4.
std::uint64_t field_value(std::string_view line)
{
    std::vector<std::string_view> f = words(line);
    std::uint64_t value = ~0ull;
    if (f.size() >= 2)
        std::from_chars(f[1].data(), f[1].data() + f[1].size(), value);
    return value;
}

// Reads smaps line by line and keeps the ranges of the mappings that may be dropped.
class SmapsScanner {
public:
    void line(std::string_view line)
    {
        std::size_t colon = line.find(':');
        std::size_t space = line.find(' ');
        if (colon == std::string_view::npos || (space != std::string_view::npos && space < colon)) {
            close(); // "start-end perms offset dev inode path": the next mapping
            m_current = parse_header(line);
            return;
        }
        if (!m_current)
            return;
        std::string_view key = line.substr(0, colon);
        if (key == "Anonymous") {
            m_current->anonymous_pages = field_value(line) != 0;
        } else if (key == "KernelPageSize") {
            m_current->small_pages = field_value(line) == 4;
        } else if (key == "VmFlags") {
            m_current->special = false;
            for (std::string_view flag : words(line.substr(colon + 1)))
                if (flag == "io" || flag == "pf" || flag == "lo" || flag == "ht" || flag == "wr")
                    m_current->special = true;
        }
    }

    std::vector<MemoryRange> finish()
    {
        close();
        return std::move(m_ranges);
    }

private:
    void close()
    {
        if (m_current && m_current->droppable())
            m_ranges.push_back(m_current->range);
        m_current.reset();
    }

    std::optional<SmapsEntry> m_current;
    std::vector<MemoryRange> m_ranges;
};

} // namespace

std::vector<MemoryRange> read_only_file_mappings(std::string_view smaps)
{
    SmapsScanner scanner;
    while (!smaps.empty()) {
        std::size_t eol = smaps.find('\n');
        scanner.line(smaps.substr(0, eol));
        smaps = eol == std::string_view::npos ? std::string_view() : smaps.substr(eol + 1);
    }
    return scanner.finish();
}

base::UniqueFd open_own_smaps()
{
    return base::UniqueFd(::open("/proc/self/smaps", O_RDONLY | O_CLOEXEC));
}

std::vector<MemoryRange> read_only_file_mappings(int smaps_fd)
{
    if (smaps_fd < 0)
        return {};
    // In pieces, line by line: no copy of the whole text on the heap this is meant to shrink.
    SmapsScanner scanner;
    char buffer[4096];
    std::size_t held = 0; // bytes of an unfinished line at the start of buffer
    for (;;) {
        ssize_t n = ::read(smaps_fd, buffer + held, sizeof buffer - held);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return {}; // what was read may be incomplete: drop nothing
        std::string_view text(buffer, held + static_cast<std::size_t>(n));
        std::size_t eol;
        while ((eol = text.find('\n')) != std::string_view::npos) {
            scanner.line(text.substr(0, eol));
            text.remove_prefix(eol + 1);
        }
        if (n == 0) {
            scanner.line(text);
            break;
        }
        if (text.size() == sizeof buffer)
            return {}; // a line longer than the buffer: not smaps as the kernel writes it
        std::memmove(buffer, text.data(), text.size());
        held = text.size();
    }
    return scanner.finish();
}

std::size_t drop_file_pages(const std::vector<MemoryRange>& ranges)
{
    std::size_t dropped = 0;
    for (const MemoryRange& r : ranges)
        if (::madvise(reinterpret_cast<void*>(r.start), r.end - r.start, MADV_DONTNEED) == 0)
            ++dropped;
    return dropped;
}

void FileCodePages::set(std::vector<MemoryRange> ranges)
{
    std::lock_guard guard(m_lock);
    m_ranges = std::move(ranges);
}

bool FileCodePages::empty() const
{
    std::lock_guard guard(m_lock);
    return m_ranges.empty();
}

std::size_t FileCodePages::drop() const
{
    std::lock_guard guard(m_lock);
    return drop_file_pages(m_ranges);
}

} // namespace vmm
