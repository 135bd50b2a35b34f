// Output formats against knack: tools/qt-vmm/testdata/knack/ holds a result (input.json), queries
// (cases.json) and, for each query and format, what knack writes (<case>.<format>). The expected
// files were produced once with knack's formatters over the real Python libraries it uses
// (json, PyYAML 6, Pygments 2.20, tabulate 0.8.9, jmespath 1.1); see the README section on --query.
#include "base/error.h"
#include "tools/qt-vmm/output.h"
#include "tools/qt-vmm/output_python.h"
#include "tools/qt-vmm/output_yaml_resolver.h"
#include "tools/qt-vmm/query_option.h"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using qtvmm::Json;
using qtvmm::OutputFormat;
using qtvmm::render;

namespace {

fs::path testdata()
{
    const char* top = std::getenv("TOP");
    fs::path root = top ? fs::path(top) : fs::path(__FILE__).parent_path().parent_path().parent_path();
    return root / "tools" / "qt-vmm" / "testdata" / "knack";
}

std::string slurp(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string plain(OutputFormat f, const Json& v, const char* query = nullptr)
{
    if (!query)
        return render(v, f, nullptr, false);
    jmespath::Expression q = jmespath::compile(query);
    return render(v, f, &q, false);
}

} // namespace

TEST_CASE("parse_output_format knows the knack formats and nothing else")
{
    for (const char* name : { "json", "jsonc", "none", "table", "tsv", "yaml", "yamlc" })
        CHECK(qtvmm::parse_output_format(name).has_value());
    CHECK_FALSE(qtvmm::parse_output_format("xml").has_value());
    CHECK_FALSE(qtvmm::parse_output_format("JSON").has_value());
}

TEST_CASE("golden: every query of cases.json in every format is what knack writes")
{
    Json input = Json::parse(slurp(testdata() / "input.json"));
    Json cases = Json::parse(slurp(testdata() / "cases.json"));
    const std::pair<const char*, OutputFormat> formats[] = { { "json", OutputFormat::Json },
        { "jsonc", OutputFormat::Jsonc }, { "yaml", OutputFormat::Yaml }, { "yamlc", OutputFormat::Yamlc },
        { "table", OutputFormat::Table }, { "tsv", OutputFormat::Tsv } };
    int compared = 0;
    for (const auto& c : cases) {
        std::optional<jmespath::Expression> query;
        if (!c["query"].is_null())
            query = jmespath::compile(c["query"].get<std::string>());
        for (const auto& [name, format] : formats) {
            std::string expected = slurp(testdata() / (c["name"].get<std::string>() + "." + name));
            bool color = format == OutputFormat::Jsonc || format == OutputFormat::Yamlc;
            INFO("case " << c["name"].get<std::string>() << ", format " << std::string(name));
            CHECK(render(input, format, query ? &*query : nullptr, color) == expected);
            CHECK(render(input, OutputFormat::None, query ? &*query : nullptr, color).empty());
            ++compared;
        }
    }
    CHECK(compared == 66);
}

TEST_CASE("jsonc and yamlc are plain json and yaml without a terminal")
{
    Json v = Json::parse(slurp(testdata() / "input.json"));
    CHECK(render(v, OutputFormat::Jsonc, nullptr, false) == render(v, OutputFormat::Json, nullptr, false));
    CHECK(render(v, OutputFormat::Yamlc, nullptr, false) == render(v, OutputFormat::Yaml, nullptr, false));
    CHECK(render(v, OutputFormat::Json, nullptr, true) == render(v, OutputFormat::Json, nullptr, false));
    CHECK(render(v, OutputFormat::Jsonc, nullptr, true).find("\x1b[94m\"Accel\"\x1b[39;49;00m") != std::string::npos);
}

TEST_CASE("json sorts keys, with or without a query, and keeps non-ASCII text")
{
    Json v = Json::parse(R"({"b": 1, "a": {"d": "é", "c": []}})");
    CHECK(plain(OutputFormat::Json, v) == "{\n  \"a\": {\n    \"c\": [],\n    \"d\": \"é\"\n  },\n  \"b\": 1\n}\n");
    CHECK(plain(OutputFormat::Json, v, "{z: b, y: a.d}") == "{\n  \"y\": \"é\",\n  \"z\": 1\n}\n");
    CHECK(plain(OutputFormat::Json, Json::array()) == "[]\n");
    CHECK(plain(OutputFormat::Json, Json::parse("[1.0, 1e16, 0.0001, 1e-05, 123.456]")) == "[\n  1.0,\n  1e+16,\n  0.0001,\n  1e-05,\n  123.456\n]\n");
}

TEST_CASE("a null result prints nothing in any format, as knack")
{
    Json v = Json::parse(R"({"a": 1})");
    for (auto f : { OutputFormat::Json, OutputFormat::Jsonc, OutputFormat::Table, OutputFormat::Tsv, OutputFormat::Yaml })
        CHECK(plain(f, v, "missing").empty());
    CHECK(plain(OutputFormat::Json, nullptr).empty());
}

TEST_CASE("yaml: PyYAML's scalar styles, document end marker and line folding")
{
    CHECK(plain(OutputFormat::Yaml, Json("abc")) == "abc\n...\n");
    CHECK(plain(OutputFormat::Yaml, Json("")) == "''\n");
    CHECK(plain(OutputFormat::Yaml, Json(7)) == "7\n...\n");
    CHECK(plain(OutputFormat::Yaml, Json::object()) == "{}\n");
    Json v = Json::parse(R"({"on": "off", "n": "null", "t": "2024-01-02", "o": "0o7", "x": "0x1F", "e": "1e5",
        "f": "1.5", "s": "a: b", "q": "'", "tab": "\t", "u": "ü", "nl": "a\nb", "lead": "-a", "dash": "- a"})");
    CHECK(plain(OutputFormat::Yaml, v) == "dash: '- a'\ne: 1e5\nf: '1.5'\nlead: -a\nn: 'null'\nnl: 'a\n\n  b'\no: 0o7\n"
                                          "'on': 'off'\nq: ''''\ns: 'a: b'\nt: '2024-01-02'\ntab: \"\\t\"\nu: ü\nx: '0x1F'\n");
    std::string words;
    for (int i = 0; i < 30; ++i)
        words += "word" + std::to_string(i) + " ";
    words += "end";
    std::string folded = plain(OutputFormat::Yaml, Json { { "k", words } });
    CHECK(folded.substr(0, 8) == "k: word0");
    CHECK(folded.find("\n  word") != std::string::npos);
    for (std::size_t start = 0, nl; (nl = folded.find('\n', start)) != std::string::npos; start = nl + 1)
        CHECK(nl - start <= 90);
}

TEST_CASE("yaml: strings YAML 1.1 would read as something else are the ones PyYAML quotes")
{
    // Each text and whether PyYAML 6's safe_dump quotes it (checked with PyYAML).
    const std::pair<const char*, bool> cases[] = { { "yes", true }, { "y", false }, { "0b101", true }, { "0b", false },
        { "0o17", false }, { "017", true }, { "019", false }, { "0", true }, { "00", true }, { "-0", true }, { "+12", true },
        { "1_000", true }, { "0x1F", true }, { "0xg", false }, { "1:30", true }, { "1:60", false }, { "190:20:30", true },
        { "1.5", true }, { "1.", true }, { ".5", true }, { ".", false }, { "1e5", false }, { "1.0e+5", true },
        { "1.0e5", false }, { "-.inf", true }, { ".Inf", true }, { ".NaN", true }, { "nan", false }, { "2024-01-02", true },
        { "2024-1-2", false }, { "2024-01-02T10:11:12", true }, { "2024-1-2 1:11:12.5 +01:00", true },
        { "2024-01-02t10:11:12Z", true }, { "2024-01-02T10:11:12 Z", true }, { "2001-12-14 21:59:43.10 -5", true },
        { "<<", true }, { "=", true }, { "~", true }, { "NULL", true }, { "abc", false }, { "1.5.6", false },
        { "12:30:45.5", true }, { "+.inf", true }, { "1__", true }, { "_1", false } };
    for (const auto& [text, quoted] : cases) {
        INFO(text);
        CHECK(qtvmm::yaml_resolves_to_non_string(text) == quoted);
    }
}

TEST_CASE("table: knack's columns, True/False, no row for an empty list, an error with nothing to show")
{
    CHECK(plain(OutputFormat::Table, Json::array()) == "\n");
    CHECK(plain(OutputFormat::Table, Json::parse(R"({"ok": true, "name": "x", "id": 3, "list": [1]})"))
        == "Name    Ok\n------  ----\nx       True\n");
    CHECK_THROWS_AS(plain(OutputFormat::Table, Json::parse(R"({"Measurements": {"PCR0": "ab"}})")), base::Error);
    CHECK(plain(OutputFormat::Table, Json::parse(R"({"Measurements": {"PCR0": "ab"}})"), "Measurements")
        == "PCR0\n------\nab\n");
}

TEST_CASE("tsv: values of a query-built object keep the query's order; plain objects are sorted")
{
    Json v = Json::parse(R"([{"b": 2, "a": 1, "c": {"x": 1}, "d": [1, 2, 3], "e": null, "f": true}])");
    CHECK(plain(OutputFormat::Tsv, v) == "1\t2\t\t3\tNone\tTrue\n");
    CHECK(plain(OutputFormat::Tsv, v, "[].{z: b, y: a}") == "2\t1\n");
    CHECK(plain(OutputFormat::Tsv, v, "[0].f") == "true\n");
    CHECK(plain(OutputFormat::Tsv, Json("stop 0 success")) == "stop 0 success\n");
}

TEST_CASE("python_float writes floats as Python's repr")
{
    CHECK(qtvmm::python_float(1.0) == "1.0");
    CHECK(qtvmm::python_float(0.1) == "0.1");
    CHECK(qtvmm::python_float(1e15) == "1000000000000000.0");
    CHECK(qtvmm::python_float(1e16) == "1e+16");
    CHECK(qtvmm::python_float(1.5e-5) == "1.5e-05");
    CHECK(qtvmm::python_float(-2.5e100) == "-2.5e+100");
    CHECK(qtvmm::python_float(0.0001) == "0.0001");
}

TEST_CASE("--query errors are one line with code INVALID_QUERY, the usage status and the fix")
{
    for (const char* bad : { "foo[", "a ==", "unknown_fn(@)", "length(a, b)", "a\nb", "`{`" }) {
        INFO(bad);
        try {
            qtvmm::compile_query(bad);
            FAIL("accepted");
        } catch (const base::Error& e) {
            CHECK(e.code() == "INVALID_QUERY");
            CHECK(e.exit_status() == 2);
            CHECK(std::string(e.what()).find('\n') == std::string::npos);
            CHECK(std::string(e.what()).find("fix the JMESPath expression") != std::string::npos);
        }
    }
    jmespath::Expression q = qtvmm::compile_query("abs(State)");
    Json v = Json::parse(R"({"State": "RUNNING"})");
    CHECK_THROWS_WITH_AS(qtvmm::render_with_query(v, OutputFormat::Json, &q, false),
        doctest::Contains("invalid-type"), base::Error);
}
