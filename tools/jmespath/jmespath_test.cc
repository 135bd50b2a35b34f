// Unit tests of the JMESPath library beyond the compliance suite: the API, error kinds and
// positions, limits, key order, and the choices where the specification leaves room.
#include "tools/jmespath/jmespath.h"

#include <doctest/doctest.h>

using jmespath::ErrorKind;
using jmespath::Json;

namespace {

Json search(const char* expression, const char* document)
{
    return jmespath::compile(expression).search(Json::parse(document));
}

ErrorKind error_of(const char* expression, const char* document = "{}")
{
    try {
        search(expression, document);
    } catch (const jmespath::Error& e) {
        return e.kind();
    }
    FAIL("no error for " << expression);
    return ErrorKind::Syntax;
}

} // namespace

TEST_CASE("a compiled expression is reusable across documents")
{
    jmespath::Expression e = jmespath::compile("[?State=='RUNNING'].EnclaveID");
    CHECK(e.search(Json::parse(R"([{"State":"RUNNING","EnclaveID":1},{"State":"TERMINATED","EnclaveID":2}])")) == Json::parse("[1]"));
    CHECK(e.search(Json::parse("[]")) == Json::array());
    CHECK(e.search(Json::parse("{}")).is_null());
}

TEST_CASE("objects built by a query keep the query's key order; taken objects keep theirs")
{
    Json r = search("{z: a, b: b, m: c}", R"({"a": 1, "b": 2, "c": 3})");
    CHECK(r.dump() == R"({"z":1,"b":2,"m":3})");
    CHECK(search("@", R"({"b": 1, "a": 2})").dump() == R"({"b":1,"a":2})");
    CHECK(search("keys(@)", R"({"b": 1, "a": 2})") == Json::parse(R"(["b","a"])"));
}

TEST_CASE("syntax errors carry the offset of the offending token")
{
    try {
        jmespath::compile("foo.[");
        FAIL("accepted");
    } catch (const jmespath::Error& e) {
        CHECK(e.kind() == ErrorKind::Syntax);
        CHECK(e.position() == 5);
        CHECK(std::string(e.what()).find("incomplete expression") != std::string::npos);
    }
    try {
        jmespath::compile("a = b");
        FAIL("accepted");
    } catch (const jmespath::Error& e) {
        CHECK(e.position() == 2);
        CHECK(std::string(e.what()).find("'=='") != std::string::npos);
    }
}

TEST_CASE("function names and argument counts are checked when compiling")
{
    CHECK_THROWS_AS(jmespath::compile("nope(@)"), jmespath::Error);
    CHECK(error_of("nope(@)") == ErrorKind::UnknownFunction);
    CHECK(error_of("length(@, @)") == ErrorKind::InvalidArity);
    CHECK(error_of("not_null()") == ErrorKind::InvalidArity);
    CHECK(error_of("\"length\"(@)") == ErrorKind::Syntax);
    CHECK(error_of("length(@,)") == ErrorKind::Syntax);
    CHECK(error_of("length(@ @)") == ErrorKind::Syntax);
}

TEST_CASE("type errors, a zero slice step and a stray & are reported while searching")
{
    CHECK(error_of("abs(@)", R"("x")") == ErrorKind::InvalidType);
    CHECK(error_of("sort_by(@, &a)", R"([{"a": 1}, {"a": "x"}])") == ErrorKind::InvalidType);
    CHECK(error_of("max(@)", R"([1, "a"])") == ErrorKind::InvalidType);
    CHECK(error_of("[::0]", "[1]") == ErrorKind::InvalidValue);
    CHECK(error_of("&a", "{}") == ErrorKind::InvalidType);
    CHECK(error_of("length(&a)", "{}") == ErrorKind::InvalidType);
}

TEST_CASE("ordering compares two numbers or two strings, anything else is null")
{
    CHECK(search("a < b", R"({"a": 1, "b": 2.5})") == true);
    CHECK(search("a < b", R"({"a": "abc", "b": "abd"})") == true);
    CHECK(search("a < b", R"({"a": 1, "b": "2"})").is_null());
    CHECK(search("a == b", R"({"a": 1, "b": 1.0})") == true);
    CHECK(search("a == b", R"({"a": {"x": 1, "y": 2}, "b": {"y": 2, "x": 1}})") == true);
    CHECK(search("a == b", R"({"a": true, "b": 1})") == false);
}

TEST_CASE("functions: numbers, strings by code point, stable sorts")
{
    CHECK(search("length(@)", R"("héllo")") == 5);
    CHECK(search("reverse(@)", R"("añb")") == "bña");
    CHECK(search("to_number(@)", R"(" 42 ")") == 42);
    CHECK(search("to_number(@)", R"("1.5e3")") == 1500.0);
    CHECK(search("to_number(@)", R"("0x10")").is_null());
    CHECK(search("to_number(@)", R"("nan")").is_null());
    CHECK(search("to_string(@)", R"({"a": [1, "é"]})") == R"({"a":[1,"\u00e9"]})");
    CHECK(search("sum(@)", "[1, 2, 3]") == 6);
    CHECK(search("ceil(@)", "1.2") == 2);
    CHECK(search("sort_by(@, &k)[].v", R"([{"k":2,"v":"a"},{"k":1,"v":"b"},{"k":2,"v":"c"}])") == Json::parse(R"(["b","a","c"])"));
    CHECK(search("max_by(@, &k).v", R"([{"k":2,"v":"a"},{"k":2,"v":"c"}])") == "a");
    CHECK(search("merge(@, {b: `3`})", R"({"a": 1, "b": 2})").dump() == R"({"a":1,"b":3})");
}

TEST_CASE("limits: deep nesting is a syntax error, invalid UTF-8 is refused, big indices are safe")
{
    std::string deep(1000, '(');
    deep += "a" + std::string(1000, ')');
    CHECK(error_of(deep.c_str()) == ErrorKind::Syntax);
    std::string pipes = "a";
    for (int i = 0; i < 2000; ++i)
        pipes += "|a";
    CHECK(error_of(pipes.c_str()) == ErrorKind::Syntax);
    std::string deep_literal = "`" + std::string(100000, '[') + std::string(100000, ']') + "`";
    CHECK(error_of(deep_literal.c_str()) == ErrorKind::Syntax);
    CHECK(search("`[[[1]]]`", "{}") == Json::parse("[[[1]]]"));
    CHECK(error_of("'\xff'") == ErrorKind::Syntax);
    CHECK(error_of("'\xf5\x80\x80\x80'") == ErrorKind::Syntax);
    CHECK(error_of("'\xed\xa0\x80'") == ErrorKind::Syntax);
    CHECK(search("'é'", "{}") == "é");
    CHECK(search("[99999999999999999999999]", "[1]").is_null());
    CHECK(search("[-99999999999999999999999:99999999999999999999999:9223372036854775807]", "[1, 2]") == Json::parse("[1]"));
    CHECK(search("[::-9223372036854775807]", "[1, 2]") == Json::parse("[2]"));
}

TEST_CASE("error kinds have the compliance suite's names")
{
    CHECK(std::string(jmespath::error_kind_name(ErrorKind::Syntax)) == "syntax");
    CHECK(std::string(jmespath::error_kind_name(ErrorKind::UnknownFunction)) == "unknown-function");
    CHECK(std::string(jmespath::error_kind_name(ErrorKind::InvalidArity)) == "invalid-arity");
    CHECK(std::string(jmespath::error_kind_name(ErrorKind::InvalidType)) == "invalid-type");
    CHECK(std::string(jmespath::error_kind_name(ErrorKind::InvalidValue)) == "invalid-value");
}
