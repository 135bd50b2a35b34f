#include "tools/jmespath/parser.h"

#include "tools/jmespath/functions.h"
#include "tools/jmespath/lexer.h"

#include <algorithm>

namespace jmespath {

namespace {

// Binding powers of the reference implementation; tokens not listed bind with 0.
int binding_power(Tok t)
{
    switch (t) {
    case Tok::Pipe: return 1;
    case Tok::Or: return 2;
    case Tok::And: return 3;
    case Tok::Eq:
    case Tok::Ne:
    case Tok::Lt:
    case Tok::Lte:
    case Tok::Gt:
    case Tok::Gte: return 5;
    case Tok::Flatten: return 9;
    case Tok::Star: return 20;
    case Tok::Filter: return 21;
    case Tok::Dot: return 40;
    case Tok::Not: return 45;
    case Tok::LBrace: return 50;
    case Tok::LBracket: return 55;
    case Tok::LParen: return 60;
    default: return 0;
    }
}

// Below this binding power a token ends a projection's right-hand side.
constexpr int kProjectionStop = 10;

class Parser {
public:
    explicit Parser(std::vector<Token> tokens)
        : tokens_(std::move(tokens))
    {
    }

    NodePtr run()
    {
        NodePtr root = expression(0);
        if (current().type != Tok::Eof)
            unexpected("after a complete expression");
        return root;
    }

private:
    std::vector<Token> tokens_;
    std::size_t at_ { 0 };
    int nesting_ { 0 };

    const Token& current() const { return tokens_[at_]; }
    const Token& lookahead(std::size_t n) const { return tokens_[std::min(at_ + n, tokens_.size() - 1)]; }
    void advance()
    {
        if (at_ + 1 < tokens_.size())
            ++at_;
    }

    [[noreturn]] void unexpected(const std::string& where) const
    {
        const Token& t = current();
        throw Error(ErrorKind::Syntax, "unexpected " + describe(t) + " " + where, t.position);
    }

    void match(Tok type, const char* where)
    {
        if (current().type != type)
            unexpected(where);
        advance();
    }

    NodePtr node(NodeType type, std::vector<NodePtr> children = {})
    {
        auto n = std::make_unique<Node>();
        n->type = type;
        for (const auto& c : children)
            n->depth = std::max(n->depth, c->depth + 1);
        if (n->depth > kMaxDepth)
            throw Error(ErrorKind::Syntax, "expression nested deeper than " + std::to_string(kMaxDepth) + " levels",
                current().position);
        n->children = std::move(children);
        return n;
    }

    static std::vector<NodePtr> pair(NodePtr a, NodePtr b)
    {
        std::vector<NodePtr> v;
        v.push_back(std::move(a));
        v.push_back(std::move(b));
        return v;
    }

    static std::vector<NodePtr> one(NodePtr a)
    {
        std::vector<NodePtr> v;
        v.push_back(std::move(a));
        return v;
    }

    NodePtr expression(int rbp)
    {
        if (++nesting_ > kMaxDepth)
            throw Error(ErrorKind::Syntax, "expression nested deeper than " + std::to_string(kMaxDepth) + " levels",
                current().position);
        Token token = current();
        advance();
        NodePtr left = nud(token);
        while (rbp < binding_power(current().type)) {
            Token op = current();
            advance();
            left = led(op, std::move(left));
        }
        --nesting_;
        return left;
    }

    NodePtr nud(const Token& t)
    {
        switch (t.type) {
        case Tok::Literal: {
            NodePtr n = node(NodeType::Literal);
            n->literal = t.value;
            return n;
        }
        case Tok::UnquotedIdentifier:
            return field(t.text);
        case Tok::QuotedIdentifier:
            if (current().type == Tok::LParen)
                throw Error(ErrorKind::Syntax, "a function name cannot be quoted", t.position);
            return field(t.text);
        case Tok::Star: {
            NodePtr right = current().type == Tok::RBracket ? node(NodeType::Current) : projection_rhs(binding_power(Tok::Star));
            return node(NodeType::ValueProjection, pair(node(NodeType::Current), std::move(right)));
        }
        case Tok::Filter:
            return filter(node(NodeType::Current));
        case Tok::LBrace:
            return multi_select_hash();
        case Tok::LParen: {
            NodePtr inner = expression(0);
            match(Tok::RParen, "where ')' closes the parenthesis");
            return inner;
        }
        case Tok::Flatten: {
            NodePtr left = node(NodeType::Flatten, one(node(NodeType::Current)));
            return node(NodeType::Projection, pair(std::move(left), projection_rhs(binding_power(Tok::Flatten))));
        }
        case Tok::Not:
            return node(NodeType::Not, one(expression(binding_power(Tok::Not))));
        case Tok::LBracket:
            if (current().type == Tok::Number || current().type == Tok::Colon)
                return project_if_slice(node(NodeType::Current), index_expression());
            if (current().type == Tok::Star && lookahead(1).type == Tok::RBracket) {
                advance();
                advance();
                return node(NodeType::Projection, pair(node(NodeType::Current), projection_rhs(binding_power(Tok::Star))));
            }
            return multi_select_list();
        case Tok::Current:
            return node(NodeType::Current);
        case Tok::Expref:
            return node(NodeType::Expref, one(expression(0)));
        default:
            break;
        }
        if (t.type == Tok::Eof)
            throw Error(ErrorKind::Syntax, "incomplete expression: it ends where a value is expected", t.position);
        throw Error(ErrorKind::Syntax, "unexpected " + describe(t) + " where a value is expected", t.position);
    }

    NodePtr led(const Token& t, NodePtr left)
    {
        switch (t.type) {
        case Tok::Dot:
            if (current().type != Tok::Star)
                return subexpression(std::move(left), dot_rhs(binding_power(Tok::Dot)));
            advance();
            return node(NodeType::ValueProjection, pair(std::move(left), projection_rhs(binding_power(Tok::Dot))));
        case Tok::Pipe:
            return node(NodeType::Pipe, pair(std::move(left), expression(binding_power(Tok::Pipe))));
        case Tok::Or:
            return node(NodeType::Or, pair(std::move(left), expression(binding_power(Tok::Or))));
        case Tok::And:
            return node(NodeType::And, pair(std::move(left), expression(binding_power(Tok::And))));
        case Tok::LParen:
            return function_call(t, std::move(left));
        case Tok::Filter:
            return filter(std::move(left));
        case Tok::Flatten: {
            NodePtr flat = node(NodeType::Flatten, one(std::move(left)));
            return node(NodeType::Projection, pair(std::move(flat), projection_rhs(binding_power(Tok::Flatten))));
        }
        case Tok::LBracket:
            if (current().type == Tok::Number || current().type == Tok::Colon) {
                NodePtr right = index_expression();
                if (left->type == NodeType::IndexExpression) {
                    left->children.push_back(std::move(right));
                    return reheight(std::move(left));
                }
                return project_if_slice(std::move(left), std::move(right));
            }
            match(Tok::Star, "inside '[...]' (expected a number, ':' or '*')");
            match(Tok::RBracket, "after '[*' (expected ']')");
            return node(NodeType::Projection, pair(std::move(left), projection_rhs(binding_power(Tok::Star))));
        case Tok::Eq: return comparator(CompareOp::Eq, std::move(left));
        case Tok::Ne: return comparator(CompareOp::Ne, std::move(left));
        case Tok::Lt: return comparator(CompareOp::Lt, std::move(left));
        case Tok::Lte: return comparator(CompareOp::Lte, std::move(left));
        case Tok::Gt: return comparator(CompareOp::Gt, std::move(left));
        case Tok::Gte: return comparator(CompareOp::Gte, std::move(left));
        default:
            throw Error(ErrorKind::Syntax, "unexpected " + describe(t), t.position);
        }
    }

    NodePtr field(const std::string& name)
    {
        NodePtr n = node(NodeType::Field);
        n->name = name;
        return n;
    }

    // Recomputes the height of a node whose children grew in place.
    NodePtr reheight(NodePtr n)
    {
        std::vector<NodePtr> children = std::move(n->children);
        NodePtr fresh = node(n->type, std::move(children));
        fresh->name = std::move(n->name);
        return fresh;
    }

    NodePtr subexpression(NodePtr left, NodePtr right)
    {
        if (left->type == NodeType::Subexpression) {
            left->children.push_back(std::move(right));
            return reheight(std::move(left));
        }
        return node(NodeType::Subexpression, pair(std::move(left), std::move(right)));
    }

    NodePtr comparator(CompareOp op, NodePtr left)
    {
        NodePtr n = node(NodeType::Comparator, pair(std::move(left), expression(5)));
        n->op = op;
        return n;
    }

    NodePtr filter(NodePtr left)
    {
        NodePtr condition = expression(0);
        match(Tok::RBracket, "in a filter (expected ']' to close '[?')");
        NodePtr right = current().type == Tok::Flatten ? node(NodeType::Current) : projection_rhs(binding_power(Tok::Filter));
        std::vector<NodePtr> children = pair(std::move(left), std::move(right));
        children.push_back(std::move(condition));
        return node(NodeType::FilterProjection, std::move(children));
    }

    NodePtr projection_rhs(int rbp)
    {
        Tok t = current().type;
        if (binding_power(t) < kProjectionStop)
            return node(NodeType::Current);
        if (t == Tok::LBracket || t == Tok::Filter)
            return expression(rbp);
        if (t == Tok::Dot) {
            advance();
            return dot_rhs(rbp);
        }
        unexpected("after a projection (expected '.', '[' or '[?')");
    }

    NodePtr dot_rhs(int rbp)
    {
        Tok t = current().type;
        if (t == Tok::QuotedIdentifier || t == Tok::UnquotedIdentifier || t == Tok::Star)
            return expression(rbp);
        if (t == Tok::LBracket) {
            advance();
            return multi_select_list();
        }
        if (t == Tok::LBrace) {
            advance();
            return multi_select_hash();
        }
        unexpected("after '.' (expected a name, '*', '[' or '{')");
    }

    NodePtr index_expression()
    {
        if (current().type == Tok::Colon || lookahead(1).type == Tok::Colon)
            return slice_expression();
        NodePtr n = node(NodeType::Index);
        n->index = current().number;
        advance();
        match(Tok::RBracket, "after an index (expected ']')");
        return n;
    }

    NodePtr slice_expression()
    {
        NodePtr n = node(NodeType::Slice);
        int part = 0;
        while (current().type != Tok::RBracket && part < 3) {
            if (current().type == Tok::Colon) {
                ++part;
                if (part == 3)
                    unexpected("in a slice (at most start:stop:step)");
                advance();
            } else if (current().type == Tok::Number) {
                n->slice[part] = current().number;
                advance();
            } else {
                unexpected("in a slice (expected a number, ':' or ']')");
            }
        }
        match(Tok::RBracket, "in a slice (expected ']')");
        return n;
    }

    NodePtr project_if_slice(NodePtr left, NodePtr right)
    {
        bool is_slice = right->type == NodeType::Slice;
        NodePtr index = node(NodeType::IndexExpression, pair(std::move(left), std::move(right)));
        if (!is_slice)
            return index;
        return node(NodeType::Projection, pair(std::move(index), projection_rhs(binding_power(Tok::Star))));
    }

    NodePtr multi_select_list()
    {
        std::vector<NodePtr> items;
        while (true) {
            items.push_back(expression(0));
            if (current().type == Tok::RBracket)
                break;
            match(Tok::Comma, "in a list (expected ',' or ']')");
        }
        advance();
        return node(NodeType::MultiSelectList, std::move(items));
    }

    NodePtr multi_select_hash()
    {
        std::vector<NodePtr> values;
        std::vector<std::string> keys;
        while (true) {
            if (current().type != Tok::QuotedIdentifier && current().type != Tok::UnquotedIdentifier)
                unexpected("in a hash (expected a key name)");
            keys.push_back(current().text);
            advance();
            match(Tok::Colon, "in a hash (expected ':' after the key)");
            values.push_back(expression(0));
            if (current().type == Tok::RBrace) {
                advance();
                break;
            }
            match(Tok::Comma, "in a hash (expected ',' or '}')");
        }
        NodePtr n = node(NodeType::MultiSelectHash, std::move(values));
        n->keys = std::move(keys);
        return n;
    }

    NodePtr function_call(const Token& paren, NodePtr left)
    {
        if (left->type != NodeType::Field)
            throw Error(ErrorKind::Syntax, "'(' must follow a function name", paren.position);
        std::size_t name_position = tokens_[at_ >= 2 ? at_ - 2 : 0].position;
        const FunctionSpec* spec = find_function(left->name);
        if (!spec)
            throw Error(ErrorKind::UnknownFunction, "unknown function " + left->name + "()", name_position);
        std::vector<NodePtr> args;
        while (current().type != Tok::RParen) {
            args.push_back(expression(0));
            if (current().type == Tok::Comma) {
                advance();
                if (current().type == Tok::RParen)
                    unexpected("in a function call (expected an argument after ',')");
            } else if (current().type != Tok::RParen) {
                unexpected("in a function call (expected ',' or ')')");
            }
        }
        advance();
        check_arity(*spec, args.size(), name_position);
        NodePtr n = node(NodeType::Function, std::move(args));
        n->name = left->name;
        n->function = spec;
        return n;
    }
};

} // namespace

NodePtr parse(std::string_view expression)
{
    return Parser(tokenize(expression)).run();
}

} // namespace jmespath
