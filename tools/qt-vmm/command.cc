#include "tools/qt-vmm/command.h"

#include "tools/qt-vmm/query_option.h"

#include <iostream>
#include <sstream>
#include <vector>

namespace qtvmm {

namespace {

struct Registered {
    std::string path;
    std::string description;
    CommandSetup setup;
};

std::vector<Registered>& registry()
{
    static std::vector<Registered> commands;
    return commands;
}

CLI::App* find_or_add(CLI::App& parent, const std::string& name, const std::string& description)
{
    for (CLI::App* sub : parent.get_subcommands([](CLI::App*) { return true; })) {
        if (sub->get_name() == name)
            return sub;
    }
    CLI::App* sub = parent.add_subcommand(name, description);
    return sub;
}

const char* group_description(const std::string& name)
{
    if (name == "enclave")
        return "Build, start, inspect and stop enclaves (the QingTian `qt enclave` commands)";
    if (name == "vsock")
        return "Talk to an enclave over vsock from the parent";
    return "";
}

} // namespace

CommandRegistration::CommandRegistration(const char* path, const char* description, CommandSetup setup)
{
    registry().push_back({ path, description, std::move(setup) });
}

void build_commands(CLI::App& root, Cli& cli)
{
    for (Registered& r : registry()) {
        std::istringstream words(r.path);
        std::vector<std::string> parts;
        for (std::string w; words >> w;)
            parts.push_back(w);
        CLI::App* parent = &root;
        for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
            parent = find_or_add(*parent, parts[i], group_description(parts[i]));
            parent->require_subcommand(1);
        }
        CLI::App* cmd = parent->add_subcommand(parts.back(), r.description);
        r.setup(*cmd, cli);
    }
}

void Cli::print(const Json& result) const
{
    std::cout << render_with_query(result, output, query ? &*query : nullptr, color);
    std::cout.flush();
}

void Cli::print_text(const std::string& line) const
{
    if (output != OutputFormat::None)
        std::cout << line << '\n' << std::flush;
}

void Cli::info(const std::string& line) const
{
    if (!only_show_errors)
        std::cerr << line << '\n';
}

void Cli::detail(const std::string& line) const
{
    if ((verbose || debug) && !only_show_errors)
        std::cerr << line << '\n';
}

} // namespace qtvmm
