#include "tools/jmespath/interpreter.h"

#include "tools/jmespath/functions.h"
#include "tools/jmespath/value.h"

namespace jmespath {

namespace {

Json index_of(const Node& n, const Json& value)
{
    if (!value.is_array())
        return nullptr;
    auto size = static_cast<std::int64_t>(value.size());
    std::int64_t i = n.index < 0 ? n.index + size : n.index;
    if (i < 0 || i >= size)
        return nullptr;
    return value[static_cast<std::size_t>(i)];
}

// Python's slice semantics (start/stop clamped to the list, negative values from the end).
Json slice_of(const Node& n, const Json& value)
{
    if (!value.is_array())
        return nullptr;
    __int128 step = n.slice[2].value_or(1);
    if (step == 0)
        throw Error(ErrorKind::InvalidValue, "a slice's step cannot be 0");
    __int128 len = static_cast<__int128>(value.size());
    __int128 lower = step < 0 ? -1 : 0;
    __int128 upper = step < 0 ? len - 1 : len;
    auto bound = [&](const std::optional<std::int64_t>& v, __int128 fallback) -> __int128 {
        if (!v)
            return fallback;
        __int128 x = *v;
        if (x < 0)
            x += len;
        return x < lower ? lower : (x > upper ? upper : x);
    };
    __int128 start = bound(n.slice[0], step < 0 ? upper : lower);
    __int128 stop = bound(n.slice[1], step < 0 ? lower : upper);
    Json out = Json::array();
    if (step > 0) {
        for (__int128 i = start; i < stop; i += step)
            out.push_back(value[static_cast<std::size_t>(i)]);
    } else {
        for (__int128 i = start; i > stop; i += step)
            out.push_back(value[static_cast<std::size_t>(i)]);
    }
    return out;
}

Json compare(const Node& n, const Json& value)
{
    Json left = evaluate(*n.children[0], value);
    Json right = evaluate(*n.children[1], value);
    if (n.op == CompareOp::Eq)
        return equal(left, right);
    if (n.op == CompareOp::Ne)
        return !equal(left, right);
    bool comparable = (left.is_number() && right.is_number()) || (left.is_string() && right.is_string());
    if (!comparable)
        return nullptr;
    int c = order(left, right);
    switch (n.op) {
    case CompareOp::Lt: return c < 0;
    case CompareOp::Lte: return c <= 0;
    case CompareOp::Gt: return c > 0;
    default: return c >= 0;
    }
}

// Applies the right-hand side to each element; null results are left out.
Json project(const Node& right, const Json& elements, const Node* condition)
{
    Json out = Json::array();
    for (const auto& e : elements) {
        if (condition && !is_true(evaluate(*condition, e)))
            continue;
        Json r = evaluate(right, e);
        if (!r.is_null())
            out.push_back(std::move(r));
    }
    return out;
}

Json call(const Node& n, const Json& value)
{
    std::vector<Arg> args;
    args.reserve(n.children.size());
    for (const auto& child : n.children) {
        Arg a;
        if (child->type == NodeType::Expref)
            a.expref = child->children[0].get();
        else
            a.value = evaluate(*child, value);
        args.push_back(std::move(a));
    }
    return call_function(*n.function, args);
}

} // namespace

Json evaluate(const Node& n, const Json& value)
{
    switch (n.type) {
    case NodeType::Field:
        if (value.is_object()) {
            auto it = value.find(n.name);
            return it == value.end() ? Json(nullptr) : *it;
        }
        return nullptr;
    case NodeType::Current:
        return value;
    case NodeType::Literal:
        return n.literal;
    case NodeType::Subexpression:
    case NodeType::IndexExpression:
    case NodeType::Pipe: {
        Json result = value;
        for (const auto& child : n.children)
            result = evaluate(*child, result);
        return result;
    }
    case NodeType::Index:
        return index_of(n, value);
    case NodeType::Slice:
        return slice_of(n, value);
    case NodeType::Projection: {
        Json base = evaluate(*n.children[0], value);
        return base.is_array() ? project(*n.children[1], base, nullptr) : Json(nullptr);
    }
    case NodeType::ValueProjection: {
        Json base = evaluate(*n.children[0], value);
        if (!base.is_object())
            return nullptr;
        Json values = Json::array();
        for (auto& v : base)
            values.push_back(std::move(v));
        return project(*n.children[1], values, nullptr);
    }
    case NodeType::FilterProjection: {
        Json base = evaluate(*n.children[0], value);
        return base.is_array() ? project(*n.children[1], base, n.children[2].get()) : Json(nullptr);
    }
    case NodeType::Flatten: {
        Json base = evaluate(*n.children[0], value);
        if (!base.is_array())
            return nullptr;
        Json out = Json::array();
        for (auto& e : base) {
            if (e.is_array()) {
                for (auto& inner : e)
                    out.push_back(std::move(inner));
            } else {
                out.push_back(std::move(e));
            }
        }
        return out;
    }
    case NodeType::Not:
        return !is_true(evaluate(*n.children[0], value));
    case NodeType::Expref:
        throw Error(ErrorKind::InvalidType, "an expression reference (&...) can only be a function argument");
    case NodeType::Or: {
        Json left = evaluate(*n.children[0], value);
        return is_true(left) ? left : evaluate(*n.children[1], value);
    }
    case NodeType::And: {
        Json left = evaluate(*n.children[0], value);
        return is_true(left) ? evaluate(*n.children[1], value) : left;
    }
    case NodeType::Comparator:
        return compare(n, value);
    case NodeType::MultiSelectList: {
        if (value.is_null())
            return nullptr;
        Json out = Json::array();
        for (const auto& child : n.children)
            out.push_back(evaluate(*child, value));
        return out;
    }
    case NodeType::MultiSelectHash: {
        if (value.is_null())
            return nullptr;
        Json out = Json::object();
        for (std::size_t i = 0; i < n.children.size(); ++i)
            out[n.keys[i]] = evaluate(*n.children[i], value);
        return out;
    }
    case NodeType::Function:
        return call(n, value);
    }
    return nullptr;
}

} // namespace jmespath
