#include "vmm/host/cpu_list.h"

#include "base/error.h"

#include <algorithm>
#include <charconv>

namespace vmm::host {

namespace {

[[noreturn]] void invalid(std::string_view text, const std::string& why)
{
    throw base::Error(base::ErrorKind::InvalidInput, "CPU_LIST_INVALID",
        "bad CPU list \"" + std::string(text) + "\": " + why + "; expected the form 0-3,8,10-11");
}

int parse_cpu(std::string_view whole, std::string_view number)
{
    int value = -1;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (number.empty() || ec != std::errc() || end != number.data() + number.size())
        invalid(whole, "\"" + std::string(number) + "\" is not a CPU number");
    if (value < 0 || value > kMaxCpu)
        invalid(whole, "CPU " + std::string(number) + " is out of range 0.." + std::to_string(kMaxCpu));
    return value;
}

} // namespace

std::vector<int> parse_cpu_list(std::string_view text)
{
    std::string_view body = text;
    while (!body.empty() && (body.back() == '\n' || body.back() == ' '))
        body.remove_suffix(1);
    // A bitmap, so that repeated ranges cost nothing however long the text is.
    std::vector<bool> present(kMaxCpu + 1, false);
    if (body.empty())
        return {};
    std::size_t start = 0;
    while (start <= body.size()) {
        std::size_t comma = body.find(',', start);
        std::string_view item = body.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        std::size_t dash = item.find('-');
        if (dash == std::string_view::npos) {
            present[parse_cpu(text, item)] = true;
        } else {
            int first = parse_cpu(text, item.substr(0, dash));
            int last = parse_cpu(text, item.substr(dash + 1));
            if (last < first)
                invalid(text, "range " + std::string(item) + " runs backwards");
            for (int cpu = first; cpu <= last; ++cpu)
                present[cpu] = true;
        }
        if (comma == std::string_view::npos)
            break;
        start = comma + 1;
    }
    std::vector<int> cpus;
    for (int cpu = 0; cpu <= kMaxCpu; ++cpu) {
        if (present[cpu])
            cpus.push_back(cpu);
    }
    return cpus;
}

std::string format_cpu_list(std::vector<int> cpus)
{
    std::sort(cpus.begin(), cpus.end());
    cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
    std::string out;
    for (std::size_t i = 0; i < cpus.size();) {
        std::size_t j = i;
        while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1)
            ++j;
        if (!out.empty())
            out += ',';
        out += std::to_string(cpus[i]);
        if (j > i)
            out += '-' + std::to_string(cpus[j]);
        i = j + 1;
    }
    return out;
}

} // namespace vmm::host
