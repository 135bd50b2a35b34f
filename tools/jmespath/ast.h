// tools/jmespath/ast.h — the syntax tree the parser builds and the interpreter walks.
//
// A Node's meaning depends on its type (children in order):
//   Field name | Current (also the implicit identity) | Literal literal
//   Subexpression, IndexExpression, Pipe: children applied left to right, each to the last result
//   Index index | Slice slice[0..2] (start, stop, step; unset = default)
//   Projection, ValueProjection, FilterProjection: children = {left, right[, condition]}
//   Flatten {child} | Not {child} | Expref {child} | Or, And, Comparator {left, right} with op
//   MultiSelectList children | MultiSelectHash keys[i] -> children[i]
//   Function function (resolved at parse time) applied to children
// depth is the height of the subtree; the parser keeps it bounded so walking never overflows.
#pragma once

#include "tools/jmespath/jmespath.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace jmespath {

struct FunctionSpec;

enum class NodeType {
    Field,
    Current,
    Literal,
    Subexpression,
    IndexExpression,
    Pipe,
    Index,
    Slice,
    Projection,
    ValueProjection,
    FilterProjection,
    Flatten,
    Not,
    Expref,
    Or,
    And,
    Comparator,
    MultiSelectList,
    MultiSelectHash,
    Function,
};

enum class CompareOp { Eq, Ne, Lt, Lte, Gt, Gte };

struct Node {
    NodeType type { NodeType::Current };
    std::string name;
    Json literal;
    std::int64_t index {};
    std::optional<std::int64_t> slice[3];
    CompareOp op { CompareOp::Eq };
    std::vector<std::string> keys;
    const FunctionSpec* function { nullptr };
    std::vector<std::unique_ptr<Node>> children;
    int depth { 1 };
};

using NodePtr = std::unique_ptr<Node>;

} // namespace jmespath
