#include "tools/qt-vmm/output.h"

#include <doctest/doctest.h>

using qtvmm::format_output;
using qtvmm::OutputFormat;

static qtvmm::Json sample()
{
    return qtvmm::Json::parse(R"([
        {"EnclaveID": 0, "EnclaveCID": 4, "LaunchMode": "debug", "CPUIDs": [1]},
        {"EnclaveID": 1, "EnclaveCID": 12, "LaunchMode": "production", "CPUIDs": [2, 3]}
    ])");
}

TEST_CASE("parse_output_format knows the knack formats and nothing else")
{
    for (const char* name : { "json", "jsonc", "none", "table", "tsv", "yaml", "yamlc" })
        CHECK(qtvmm::parse_output_format(name).has_value());
    CHECK_FALSE(qtvmm::parse_output_format("xml").has_value());
    CHECK_FALSE(qtvmm::parse_output_format("JSON").has_value());
}

TEST_CASE("json is indented and parses back to the same value")
{
    qtvmm::Json v = sample();
    std::string text = format_output(v, OutputFormat::Json);
    CHECK(qtvmm::Json::parse(text) == v);
    CHECK(text.find("\n  {") != std::string::npos);
}

TEST_CASE("jsonc has colours but the same content once they are stripped")
{
    qtvmm::Json v = sample();
    std::string text = format_output(v, OutputFormat::Jsonc);
    CHECK(text.find("\x1b[") != std::string::npos);
    std::string plain;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\x1b') {
            while (i < text.size() && text[i] != 'm')
                ++i;
            continue;
        }
        plain += text[i];
    }
    CHECK(qtvmm::Json::parse(plain) == v);
}

TEST_CASE("table shows scalar columns with a header and a rule, one row per object")
{
    std::string text = format_output(sample(), OutputFormat::Table);
    CHECK(text == "EnclaveID  EnclaveCID  LaunchMode\n"
                  "---------  ----------  ----------\n"
                  "0          4           debug\n"
                  "1          12          production\n");
}

TEST_CASE("tsv is tab separated without a header")
{
    CHECK(format_output(sample(), OutputFormat::Tsv) == "0\t4\tdebug\n1\t12\tproduction\n");
    CHECK(format_output(qtvmm::Json("stop 0 success"), OutputFormat::Tsv) == "stop 0 success\n");
}

TEST_CASE("yaml renders nested values; none renders nothing")
{
    qtvmm::Json v = { { "digest", "SHA384" }, { "PCR0", "ab" }, { "List", { 1, 2 } }, { "Missing", nullptr } };
    std::string text = format_output(v, OutputFormat::Yaml);
    CHECK(text == "digest: \"SHA384\"\nPCR0: \"ab\"\nList:\n  - 1\n  - 2\nMissing: ~\n");
    std::string colored = format_output(v, OutputFormat::Yamlc);
    CHECK(colored.find("\x1b[94mdigest\x1b[0m: \"SHA384\"") != std::string::npos);
    CHECK(format_output(v, OutputFormat::None).empty());
}
