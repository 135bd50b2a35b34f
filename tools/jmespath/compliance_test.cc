// Runs every case of the official JMESPath compliance suite (tests/jmespath-compliance/*.json,
// copied from jmespath/jmespath.test) and the benchmark expressions (benchmarks.json, whose
// expected results were computed once with the Python reference implementation and are kept in
// tools/jmespath/testdata/benchmarks_results.json).
#include "tools/jmespath/jmespath.h"

#include <doctest/doctest.h>
#include <algorithm>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

// The source tree: $TOP when the test runner sets it, else three levels above this file.
fs::path source_dir()
{
    if (const char* top = std::getenv("TOP"))
        return top;
    return fs::path(__FILE__).parent_path().parent_path().parent_path();
}

nlohmann::json read_json(const fs::path& path)
{
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path.string());
    return nlohmann::json::parse(in);
}

// Runs one expression; returns its result, or the error kind's name in `error`.
jmespath::Json run(const std::string& expression, const nlohmann::json& given, std::string& error)
{
    try {
        return jmespath::compile(expression).search(jmespath::Json::parse(given.dump()));
    } catch (const jmespath::Error& e) {
        error = jmespath::error_kind_name(e.kind());
        return nullptr;
    }
}

struct Tally {
    int cases = 0;
    int passed = 0;
};

void check_case(const std::string& file, const nlohmann::json& given, const nlohmann::json& c, Tally& tally)
{
    std::string expression = c["expression"].get<std::string>();
    std::string error;
    jmespath::Json got = run(expression, given, error);
    ++tally.cases;
    INFO(file << ": " << expression);
    if (c.contains("error")) {
        CHECK(error == c["error"].get<std::string>());
        tally.passed += error == c["error"].get<std::string>();
        return;
    }
    CHECK_MESSAGE(error.empty(), "error " << error);
    nlohmann::json plain = nlohmann::json::parse(got.dump());
    CHECK_MESSAGE(plain == c["result"], "got " << plain.dump() << ", expected " << c["result"].dump());
    tally.passed += error.empty() && plain == c["result"];
}

} // namespace

TEST_CASE("compliance: every case of every file of the official suite")
{
    fs::path dir = source_dir() / "tests" / "jmespath-compliance";
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.path().extension() == ".json" && entry.path().filename() != "schema.json"
            && entry.path().filename() != "benchmarks.json")
            files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    CHECK(files.size() == 15);

    Tally tally;
    for (const auto& file : files)
        for (const auto& suite : read_json(file))
            for (const auto& c : suite["cases"])
                check_case(file.filename().string(), suite["given"], c, tally);
    MESSAGE("compliance: " << tally.passed << " of " << tally.cases << " cases pass");
    CHECK(tally.cases > 800);
    CHECK(tally.passed == tally.cases);
}

TEST_CASE("compliance: benchmark expressions give the reference implementation's results")
{
    nlohmann::json suites = read_json(source_dir() / "tests" / "jmespath-compliance" / "benchmarks.json");
    nlohmann::json expected = read_json(source_dir() / "tools" / "jmespath" / "testdata" / "benchmarks_results.json");
    std::size_t i = 0;
    Tally tally;
    for (const auto& suite : suites) {
        for (const auto& c : suite["cases"]) {
            REQUIRE(i < expected.size());
            REQUIRE(expected[i]["expression"] == c["expression"]);
            check_case("benchmarks.json", suite["given"], expected[i], tally);
            ++i;
        }
    }
    CHECK(i == expected.size());
    MESSAGE("benchmarks: " << tally.passed << " of " << tally.cases << " cases pass");
    CHECK(tally.passed == tally.cases);
}
