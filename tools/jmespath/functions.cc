#include "tools/jmespath/functions.h"

#include "tools/jmespath/interpreter.h"
#include "tools/jmespath/value.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace jmespath {

namespace {

enum TypeBit : unsigned {
    Number = 1,
    String = 2,
    Boolean = 4,
    Array = 8,
    Object = 16,
    Null = 32,
    Expref = 64,
    ArrayNumber = 128, // an array whose elements are all numbers
    ArrayString = 256, // an array whose elements are all strings
    Any = Number | String | Boolean | Array | Object | Null,
};

std::string mask_text(unsigned mask)
{
    static const std::pair<unsigned, const char*> names[] = { { Number, "number" }, { String, "string" },
        { Boolean, "boolean" }, { Array, "array" }, { Object, "object" }, { Null, "null" }, { Expref, "expression (&...)" },
        { ArrayNumber, "array[number]" }, { ArrayString, "array[string]" } };
    if ((mask & Any) == Any)
        return "any";
    std::string out;
    for (const auto& [bit, name] : names) {
        if (mask & bit)
            out += (out.empty() ? "" : "|") + std::string(name);
    }
    return out;
}

bool all_of_type(const Json& array, bool (Json::*is)() const noexcept)
{
    return std::all_of(array.begin(), array.end(), [&](const Json& e) { return (e.*is)(); });
}

bool accepts(unsigned mask, const Arg& a)
{
    if (a.expref)
        return mask & Expref;
    const Json& v = a.value;
    if (v.is_number())
        return mask & Number;
    if (v.is_string())
        return mask & String;
    if (v.is_boolean())
        return mask & Boolean;
    if (v.is_object())
        return mask & Object;
    if (v.is_null())
        return mask & Null;
    if (mask & Array)
        return true;
    return ((mask & ArrayNumber) && all_of_type(v, &Json::is_number)) || ((mask & ArrayString) && all_of_type(v, &Json::is_string));
}

[[noreturn]] void type_error(const char* function, const std::string& what, const std::string& expected, const std::string& got)
{
    throw Error(ErrorKind::InvalidType, std::string(function) + "(): " + what + " must be " + expected + ", not " + got);
}

// The key an expression reference gives an element, for sort_by, min_by and max_by: numbers or
// strings, all of the same type as the first element's.
Json key_of(const char* function, const Node& expr, const Json& element, const char* required)
{
    Json key = evaluate(expr, element);
    const char* got = type_name(key);
    if (std::string(got) != required)
        type_error(function, "the expression's value for every element", required, got);
    return key;
}

const char* key_type(const char* function, const Node& expr, const Json& first)
{
    const char* t = type_name(evaluate(expr, first));
    if (std::string(t) != "number" && std::string(t) != "string")
        type_error(function, "the expression's value", "number|string", t);
    return t;
}

Json number_of(double d)
{
    if (d >= -9.2e18 && d <= 9.2e18 && d == std::floor(d))
        return static_cast<std::int64_t>(d);
    return d;
}

Json f_abs(const std::vector<Arg>& a)
{
    const Json& v = a[0].value;
    if (v.is_number_unsigned())
        return v;
    if (v.is_number_integer()) {
        std::int64_t i = v.get<std::int64_t>();
        if (i == std::numeric_limits<std::int64_t>::min())
            return -static_cast<double>(i);
        return i < 0 ? -i : i;
    }
    return std::fabs(v.get<double>());
}

Json f_avg(const std::vector<Arg>& a)
{
    const Json& v = a[0].value;
    if (v.empty())
        return nullptr;
    double sum = 0;
    for (const auto& e : v)
        sum += e.get<double>();
    return sum / static_cast<double>(v.size());
}

Json f_ceil(const std::vector<Arg>& a)
{
    return a[0].value.is_number_float() ? number_of(std::ceil(a[0].value.get<double>())) : a[0].value;
}

Json f_floor(const std::vector<Arg>& a)
{
    return a[0].value.is_number_float() ? number_of(std::floor(a[0].value.get<double>())) : a[0].value;
}

Json f_contains(const std::vector<Arg>& a)
{
    const Json& subject = a[0].value;
    const Json& search = a[1].value;
    if (subject.is_string())
        return search.is_string() && subject.get_ref<const std::string&>().find(search.get_ref<const std::string&>()) != std::string::npos;
    return std::any_of(subject.begin(), subject.end(), [&](const Json& e) { return equal(e, search); });
}

Json f_ends_with(const std::vector<Arg>& a)
{
    const auto& s = a[0].value.get_ref<const std::string&>();
    const auto& suffix = a[1].value.get_ref<const std::string&>();
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Json f_starts_with(const std::vector<Arg>& a)
{
    return a[0].value.get_ref<const std::string&>().rfind(a[1].value.get_ref<const std::string&>(), 0) == 0;
}

Json f_join(const std::vector<Arg>& a)
{
    std::string out;
    const auto& glue = a[0].value.get_ref<const std::string&>();
    for (std::size_t i = 0; i < a[1].value.size(); ++i)
        out += (i ? glue : "") + a[1].value[i].get<std::string>();
    return out;
}

Json f_keys(const std::vector<Arg>& a)
{
    Json out = Json::array();
    for (auto it = a[0].value.begin(); it != a[0].value.end(); ++it)
        out.push_back(it.key());
    return out;
}

Json f_values(const std::vector<Arg>& a)
{
    Json out = Json::array();
    for (const auto& v : a[0].value)
        out.push_back(v);
    return out;
}

Json f_length(const std::vector<Arg>& a)
{
    const Json& v = a[0].value;
    return v.is_string() ? code_points(v.get_ref<const std::string&>()) : v.size();
}

Json f_map(const std::vector<Arg>& a)
{
    Json out = Json::array();
    for (const auto& e : a[1].value)
        out.push_back(evaluate(*a[0].expref, e));
    return out;
}

// The first greatest (or least) element of a non-empty array of numbers or strings.
Json extreme(const Json& v, int sign)
{
    if (v.empty())
        return nullptr;
    std::size_t best = 0;
    for (std::size_t i = 1; i < v.size(); ++i)
        if (order(v[i], v[best]) * sign > 0)
            best = i;
    return v[best];
}

Json f_max(const std::vector<Arg>& a)
{
    return extreme(a[0].value, 1);
}

Json f_min(const std::vector<Arg>& a)
{
    return extreme(a[0].value, -1);
}

Json extreme_by(const char* function, const std::vector<Arg>& a, int sign)
{
    const Json& v = a[0].value;
    if (v.empty())
        return nullptr;
    const Node& expr = *a[1].expref;
    const char* required = key_type(function, expr, v[0]);
    std::size_t best = 0;
    Json best_key = key_of(function, expr, v[0], required);
    for (std::size_t i = 1; i < v.size(); ++i) {
        Json key = key_of(function, expr, v[i], required);
        if (order(key, best_key) * sign > 0) {
            best = i;
            best_key = std::move(key);
        }
    }
    return v[best];
}

Json f_max_by(const std::vector<Arg>& a)
{
    return extreme_by("max_by", a, 1);
}

Json f_min_by(const std::vector<Arg>& a)
{
    return extreme_by("min_by", a, -1);
}

Json f_merge(const std::vector<Arg>& a)
{
    Json out = Json::object();
    for (const auto& arg : a)
        for (auto it = arg.value.begin(); it != arg.value.end(); ++it)
            out[it.key()] = it.value();
    return out;
}

Json f_not_null(const std::vector<Arg>& a)
{
    for (const auto& arg : a)
        if (!arg.value.is_null())
            return arg.value;
    return nullptr;
}

Json f_reverse(const std::vector<Arg>& a)
{
    const Json& v = a[0].value;
    if (v.is_array()) {
        Json out = Json::array();
        for (auto it = v.rbegin(); it != v.rend(); ++it)
            out.push_back(*it);
        return out;
    }
    // Reverse by code points, keeping each UTF-8 sequence intact.
    const auto& s = v.get_ref<const std::string&>();
    std::string out;
    std::size_t end = s.size();
    while (end > 0) {
        std::size_t start = end - 1;
        while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
            --start;
        out += s.substr(start, end - start);
        end = start;
    }
    return out;
}

Json f_sort(const std::vector<Arg>& a)
{
    Json out = a[0].value;
    std::stable_sort(out.begin(), out.end(), [](const Json& x, const Json& y) { return order(x, y) < 0; });
    return out;
}

Json f_sort_by(const std::vector<Arg>& a)
{
    const Json& v = a[0].value;
    if (v.empty())
        return v;
    const Node& expr = *a[1].expref;
    const char* required = key_type("sort_by", expr, v[0]);
    std::vector<std::pair<Json, std::size_t>> keyed;
    for (std::size_t i = 0; i < v.size(); ++i)
        keyed.emplace_back(key_of("sort_by", expr, v[i], required), i);
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto& x, const auto& y) { return order(x.first, y.first) < 0; });
    Json out = Json::array();
    for (const auto& [key, i] : keyed)
        out.push_back(v[i]);
    return out;
}

Json f_sum(const std::vector<Arg>& a)
{
    bool integral = all_of_type(a[0].value, &Json::is_number_integer);
    if (integral) {
        std::int64_t total = 0;
        bool overflow = false;
        for (const auto& e : a[0].value)
            overflow = overflow || __builtin_add_overflow(total, e.get<std::int64_t>(), &total);
        if (!overflow)
            return total;
    }
    double total = 0;
    for (const auto& e : a[0].value)
        total += e.get<double>();
    return total;
}

Json f_to_array(const std::vector<Arg>& a)
{
    return a[0].value.is_array() ? a[0].value : Json::array({ a[0].value });
}

Json f_to_string(const std::vector<Arg>& a)
{
    const Json& v = a[0].value;
    return v.is_string() ? v : Json(v.dump(-1, ' ', true, Json::error_handler_t::replace));
}

// Like Python's int() then float(): optional sign and surrounding blanks, decimal only.
Json f_to_number(const std::vector<Arg>& a)
{
    const Json& v = a[0].value;
    if (v.is_number())
        return v;
    if (!v.is_string())
        return nullptr;
    std::string s = v.get<std::string>();
    std::size_t b = s.find_first_not_of(" \t\n\r\f\v");
    std::size_t e = s.find_last_not_of(" \t\n\r\f\v");
    if (b == std::string::npos)
        return nullptr;
    s = s.substr(b, e - b + 1);
    std::size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    std::size_t digits = 0, dot = 0, exp_at = 0;
    for (std::size_t k = i; k < s.size(); ++k) {
        char c = s[k];
        if (c >= '0' && c <= '9') {
            ++digits;
        } else if (c == '.' && !dot && !exp_at) {
            dot = k + 1;
        } else if ((c == 'e' || c == 'E') && digits && !exp_at && k + 1 < s.size()) {
            exp_at = k + 1;
            if (s[k + 1] == '+' || s[k + 1] == '-')
                ++k;
            if (k + 1 >= s.size())
                return nullptr;
        } else {
            return nullptr;
        }
    }
    if (!digits)
        return nullptr;
    if (!dot && !exp_at) {
        try {
            return Json::parse(s[0] == '+' ? s.substr(1) : s);
        } catch (const Json::exception&) {
            return std::strtod(s.c_str(), nullptr);
        }
    }
    return std::strtod(s.c_str(), nullptr);
}

Json f_type(const std::vector<Arg>& a)
{
    return type_name(a[0].value);
}

const FunctionSpec kFunctions[] = {
    { "abs", { Number }, false, f_abs },
    { "avg", { ArrayNumber }, false, f_avg },
    { "ceil", { Number }, false, f_ceil },
    { "contains", { Array | String, Any }, false, f_contains },
    { "ends_with", { String, String }, false, f_ends_with },
    { "floor", { Number }, false, f_floor },
    { "join", { String, ArrayString }, false, f_join },
    { "keys", { Object }, false, f_keys },
    { "length", { String | Array | Object }, false, f_length },
    { "map", { Expref, Array }, false, f_map },
    { "max", { ArrayNumber | ArrayString }, false, f_max },
    { "max_by", { Array, Expref }, false, f_max_by },
    { "merge", { Object }, true, f_merge },
    { "min", { ArrayNumber | ArrayString }, false, f_min },
    { "min_by", { Array, Expref }, false, f_min_by },
    { "not_null", { Any }, true, f_not_null },
    { "reverse", { String | Array }, false, f_reverse },
    { "sort", { ArrayNumber | ArrayString }, false, f_sort },
    { "sort_by", { Array, Expref }, false, f_sort_by },
    { "starts_with", { String, String }, false, f_starts_with },
    { "sum", { ArrayNumber }, false, f_sum },
    { "to_array", { Any }, false, f_to_array },
    { "to_number", { Any }, false, f_to_number },
    { "to_string", { Any }, false, f_to_string },
    { "type", { Any }, false, f_type },
    { "values", { Object }, false, f_values },
};

} // namespace

const FunctionSpec* find_function(std::string_view name)
{
    for (const auto& f : kFunctions)
        if (name == f.name)
            return &f;
    return nullptr;
}

void check_arity(const FunctionSpec& f, std::size_t count, std::size_t position)
{
    std::size_t n = f.params.size();
    if (f.variadic ? count >= n : count == n)
        return;
    std::string expected = (f.variadic ? "at least " : "") + std::to_string(n);
    throw Error(ErrorKind::InvalidArity,
        std::string(f.name) + "() takes " + expected + " argument" + (n == 1 ? "" : "s") + ", not " + std::to_string(count),
        position);
}

Json call_function(const FunctionSpec& f, const std::vector<Arg>& args)
{
    for (std::size_t i = 0; i < args.size(); ++i) {
        unsigned mask = f.params[std::min(i, f.params.size() - 1)];
        if (!accepts(mask, args[i]))
            type_error(f.name, "argument " + std::to_string(i + 1), mask_text(mask),
                args[i].expref ? "an expression (&...)" : type_name(args[i].value));
    }
    return f.impl(args);
}

} // namespace jmespath
