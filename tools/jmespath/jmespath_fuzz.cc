// libFuzzer target: any expression either compiles or is refused with jmespath::Error, and a
// compiled one evaluates against a document (the input after the first newline, when it is JSON,
// else a fixed one) to a value that serializes, or fails with jmespath::Error. Nothing else may
// escape: no crash, no other exception, no unbounded recursion.
#include "tools/jmespath/jmespath.h"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::size_t newline = input.find('\n');
    std::string_view expression = input.substr(0, newline);
    jmespath::Json document = jmespath::Json::parse(R"({"a": {"b": [1, 2.5, "x", null, true, {"c": [[0], []]}]},
        "people": [{"name": "b", "age": 30}, {"name": "a", "age": 25}], "s": "héllo", "e": {}, "n": -3})");
    if (newline != std::string_view::npos) {
        jmespath::Json given = jmespath::Json::parse(input.substr(newline + 1), nullptr, false);
        if (!given.is_discarded())
            document = std::move(given);
    }
    try {
        jmespath::Expression e = jmespath::compile(expression);
        jmespath::Json result = e.search(document);
        (void)result.dump(2, ' ', false, jmespath::Json::error_handler_t::replace);
    } catch (const jmespath::Error&) {
    }
    return 0;
}
