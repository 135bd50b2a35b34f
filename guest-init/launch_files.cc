// guest-init/launch_files.cc — parsing of /cmd, /env, /workdir, /user (see the header).
#include "guest-init/launch_files.h"

namespace guest_init {

std::vector<std::string> split_lines(std::string_view text)
{
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos) {
            lines.emplace_back(text.substr(start));
            break;
        }
        lines.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

CmdParse parse_cmd(std::string_view text)
{
    CmdParse parse;
    if (text.find('\0') != std::string_view::npos) {
        parse.error = "/cmd contains a NUL byte";
        parse.code = InitError::CmdInvalid;
        return parse;
    }
    parse.argv = split_lines(text);
    if (parse.argv.empty() || parse.argv[0].empty()) {
        parse.argv.clear();
        parse.error = "/cmd is empty (the image has no ENTRYPOINT or CMD)";
        parse.code = InitError::CmdEmpty;
    }
    return parse;
}

static std::string_view key_of(std::string_view var)
{
    return var.substr(0, var.find('='));
}

EnvParse parse_env(std::string_view text)
{
    EnvParse parse;
    std::vector<std::string> lines = split_lines(text);
    for (size_t i = 0; i < lines.size(); i++) {
        const std::string& line = lines[i];
        if (line.empty())
            continue;
        size_t eq = line.find('=');
        if (eq == std::string::npos || eq == 0 || line.find('\0') != std::string::npos) {
            parse.ignored_lines.push_back(i + 1);
            continue;
        }
        std::string_view key = key_of(line);
        bool replaced = false;
        for (auto& existing : parse.vars) {
            if (key_of(existing) == key) {
                existing = line;
                replaced = true;
                break;
            }
        }
        if (!replaced)
            parse.vars.push_back(line);
    }
    return parse;
}

std::optional<std::string_view> env_lookup(const std::vector<std::string>& vars, std::string_view key)
{
    for (const auto& var : vars) {
        std::string_view v = var;
        if (v.size() > key.size() && v[key.size()] == '=' && v.starts_with(key))
            return v.substr(key.size() + 1);
    }
    return std::nullopt;
}

void env_set_default(std::vector<std::string>& vars, std::string_view key, std::string_view value)
{
    if (env_lookup(vars, key))
        return;
    std::string var(key);
    var += '=';
    var += value;
    vars.push_back(std::move(var));
}

std::string parse_single_line(std::string_view text)
{
    std::string_view line = text.substr(0, text.find('\n'));
    constexpr std::string_view space = " \t\r";
    size_t first = line.find_first_not_of(space);
    if (first == std::string_view::npos)
        return {};
    size_t last = line.find_last_not_of(space);
    return std::string(line.substr(first, last - first + 1));
}

} // namespace guest_init
