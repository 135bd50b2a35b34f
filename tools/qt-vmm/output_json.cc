#include "tools/qt-vmm/output_json.h"

#include "tools/qt-vmm/output_colours.h"
#include "tools/qt-vmm/output_python.h"

#include <algorithm>
#include <vector>

namespace qtvmm {

namespace {

using colours::kConstant;
using colours::kNameTag;
using colours::kString;

class JsonWriter {
public:
    explicit JsonWriter(bool color)
        : color_(color)
    {
    }

    void value(const Json& v, int indent)
    {
        if (v.is_object())
            object(v, indent);
        else if (v.is_array())
            array(v, indent);
        else if (v.is_string())
            token(quoted(v.get<std::string>()), kString);
        else if (v.is_number_float())
            token(python_float(v.get<double>()), kConstant);
        else
            token(v.dump(), kConstant);
    }

    void end() { blank("\n"); }
    std::string take() { return std::move(out_); }

private:
    bool color_;
    std::string out_;

    static std::string quoted(const std::string& s)
    {
        return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
    }

    void token(const std::string& text, const char* colour)
    {
        out_ += color_ ? colours::wrap(colour, text) : text;
    }

    // A run of blanks: every line of it grey, the line breaks themselves plain (TerminalFormatter
    // colours a token line by line).
    void blank(const std::string& text)
    {
        if (!color_) {
            out_ += text;
            return;
        }
        std::size_t start = 0;
        while (start < text.size()) {
            std::size_t nl = text.find('\n', start);
            std::size_t stop = nl == std::string::npos ? text.size() : nl;
            out_ += colours::wrap(colours::kWhitespace, text.substr(start, stop - start));
            if (nl == std::string::npos)
                break;
            out_ += '\n';
            start = nl + 1;
        }
    }

    void object(const Json& v, int indent)
    {
        if (v.empty()) {
            out_ += "{}";
            return;
        }
        out_ += '{';
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!first)
                out_ += ',';
            first = false;
            blank("\n" + std::string(static_cast<std::size_t>(indent + 2), ' '));
            token(quoted(it.key()), kNameTag);
            out_ += ':';
            blank(" ");
            value(it.value(), indent + 2);
        }
        blank("\n" + std::string(static_cast<std::size_t>(indent), ' '));
        out_ += '}';
    }

    void array(const Json& v, int indent)
    {
        if (v.empty()) {
            out_ += "[]";
            return;
        }
        out_ += '[';
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i)
                out_ += ',';
            blank("\n" + std::string(static_cast<std::size_t>(indent + 2), ' '));
            value(v[i], indent + 2);
        }
        blank("\n" + std::string(static_cast<std::size_t>(indent), ' '));
        out_ += ']';
    }
};

} // namespace

Json sort_keys(const Json& value)
{
    if (value.is_array()) {
        Json out = Json::array();
        for (const auto& e : value)
            out.push_back(sort_keys(e));
        return out;
    }
    if (!value.is_object())
        return value;
    std::vector<std::string> keys;
    for (auto it = value.begin(); it != value.end(); ++it)
        keys.push_back(it.key());
    std::sort(keys.begin(), keys.end());
    Json out = Json::object();
    for (const auto& k : keys)
        out[k] = sort_keys(value.at(k));
    return out;
}

std::string format_json(const Json& value, bool color)
{
    JsonWriter w(color);
    w.value(value, 0);
    w.end();
    return w.take();
}

} // namespace qtvmm
