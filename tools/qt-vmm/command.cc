#include "tools/qt-vmm/command.h"

#include "tools/qt-vmm/query_option.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <set>
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

void build_commands(CLI::App& root, Cli& cli, int argc, const char* const* argv)
{
    // Only the commands whose every path word is on the command line get their options (a
    // command's setup builds CLI11 option objects, validators and help text: every command's
    // took ≈ 9 % of a launch's exec → daemon step); the others are names and descriptions, which
    // is all -h lists and all unknown_command_problem needs. A command name that is only an
    // option's value sets that command up too, which costs time, nothing else.
    const std::set<std::string> given(argv + std::min(argc, 1), argv + argc);
    // By path, whatever the link order: qt-vmm's forwarders (tools_forwarders.cc) sit where the
    // commands they stand for would, and -h lists the same tree in both programs.
    std::stable_sort(registry().begin(), registry().end(), [](const Registered& a, const Registered& b) { return a.path < b.path; });
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
        if (std::all_of(parts.begin(), parts.end(), [&](const std::string& w) { return given.count(w) > 0; }))
            r.setup(*cmd, cli);
    }
}

CLI::Validator whole_number(std::uint64_t min, std::uint64_t max)
{
    // A bound that is just the type's limit is not worth printing.
    bool type_limit = max == std::numeric_limits<int>::max() || max == std::numeric_limits<std::uint32_t>::max()
        || max == std::numeric_limits<std::uint64_t>::max();
    std::string range = type_limit ? std::to_string(min) + " or more" : "from " + std::to_string(min) + " to " + std::to_string(max);
    return CLI::Validator(
        [min, max, range](std::string& text) -> std::string {
            bool digits = !text.empty() && text.size() <= 20 && text.find_first_not_of("0123456789") == std::string::npos;
            errno = 0;
            unsigned long long value = digits ? std::strtoull(text.c_str(), nullptr, 10) : 0;
            if (!digits || errno == ERANGE || value < min || value > max)
                return "'" + text + "' is not a whole number " + range;
            return std::string();
        },
        "NUMBER " + range);
}

CLI::Option* add_enclave_id(CLI::App& command, int& id, const char* description)
{
    return command.add_option("--enclave-id", id, description)->check(whole_number(0, std::numeric_limits<int>::max()));
}

void set_examples(CLI::App& command, std::initializer_list<const char*> examples)
{
    std::string text = "\nExamples:";
    for (const char* e : examples)
        text += std::string("\n  ") + e;
    command.footer(text);
}

namespace {

std::size_t edit_distance(const std::string& a, const std::string& b)
{
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            row[j] = std::min({ row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1) });
            diagonal = above;
        }
    }
    return row[b.size()];
}

// An option of `app` or of the groups above it (fallthrough), by the name as typed.
const CLI::Option* find_option(const CLI::App* app, const std::string& name)
{
    for (; app; app = app->get_parent())
        if (const CLI::Option* o = app->get_option_no_throw(name))
            return o;
    return nullptr;
}

std::vector<CLI::App*> commands_of(CLI::App* group)
{
    return group->get_subcommands([](CLI::App*) { return true; });
}

// "console, describe-eif, make-img, ...": what a group offers.
std::string command_names(const std::vector<CLI::App*>& commands)
{
    std::string names;
    for (CLI::App* c : commands)
        names += (names.empty() ? "" : ", ") + c->get_name();
    return names;
}

} // namespace

std::optional<std::string> unknown_command_problem(CLI::App& root, int argc, const char* const* argv)
{
    CLI::App* group = &root;
    std::string path = root.get_name();
    for (int i = 1; i < argc; ++i) {
        std::string word = argv[i];
        if (word == "--")
            return std::nullopt;
        if (word == "-h" || word == "--help" || word == "--version")
            return std::nullopt;
        if (word.size() > 1 && word[0] == '-') {
            // An option: skip its value when it takes one and it was not written as --name=value.
            std::string name = word.substr(0, word.find('='));
            const CLI::Option* o = find_option(group, name);
            if (o && o->get_items_expected_min() > 0 && name == word)
                ++i;
            continue;
        }
        std::vector<CLI::App*> commands = commands_of(group);
        if (commands.empty())
            return std::nullopt; // a command's own positional arguments from here on
        auto named = std::find_if(commands.begin(), commands.end(), [&](CLI::App* c) { return c->check_name(word); });
        CLI::App* next = named == commands.end() ? nullptr : *named;
        if (!next) {
            std::string best;
            std::size_t best_distance = 0;
            for (CLI::App* c : commands) {
                const std::string& name = c->get_name();
                std::size_t d = name.rfind(word, 0) == 0 ? 0 : edit_distance(word, name);
                if (best.empty() || d < best_distance)
                    best = name, best_distance = d;
            }
            std::string problem = "'" + word + "' is not a command of '" + path + "'";
            if (best_distance <= std::max<std::size_t>(2, word.size() / 3))
                problem += "; did you mean '" + path + " " + best + "'?";
            return problem + " (choose from: " + command_names(commands) + "; see '" + path + " -h')";
        }
        group = next;
        path += " " + word;
    }
    std::vector<CLI::App*> commands = commands_of(group);
    if (commands.empty())
        return std::nullopt;
    return "'" + path + "' needs a command: " + command_names(commands) + " (see '" + path + " -h')";
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
