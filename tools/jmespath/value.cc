#include "tools/jmespath/value.h"

namespace jmespath {

const char* type_name(const Json& v)
{
    switch (v.type()) {
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "number";
    case Json::value_t::string: return "string";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::array: return "array";
    case Json::value_t::object: return "object";
    default: return "null";
    }
}

bool is_true(const Json& v)
{
    if (v.is_null())
        return false;
    if (v.is_boolean())
        return v.get<bool>();
    if (v.is_string())
        return !v.get_ref<const std::string&>().empty();
    if (v.is_array() || v.is_object())
        return !v.empty();
    return true;
}

bool equal(const Json& a, const Json& b)
{
    if (a.is_number() && b.is_number())
        return a == b;
    if (a.type() != b.type())
        return false;
    if (a.is_array()) {
        if (a.size() != b.size())
            return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (!equal(a[i], b[i]))
                return false;
        return true;
    }
    if (a.is_object()) {
        if (a.size() != b.size())
            return false;
        for (auto it = a.begin(); it != a.end(); ++it) {
            auto other = b.find(it.key());
            if (other == b.end() || !equal(it.value(), *other))
                return false;
        }
        return true;
    }
    return a == b;
}

int order(const Json& a, const Json& b)
{
    if (a.is_string()) {
        int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (a < b)
        return -1;
    if (b < a)
        return 1;
    return 0;
}

std::size_t code_points(const std::string& s)
{
    std::size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80)
            ++n;
    return n;
}

} // namespace jmespath
