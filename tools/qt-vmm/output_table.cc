#include "tools/qt-vmm/output_table.h"

#include "base/error.h"
#include "tools/jmespath/value.h"
#include "tools/qt-vmm/output_python.h"

#include <algorithm>
#include <vector>

namespace qtvmm {

namespace {

bool is_skipped_key(const std::string& key)
{
    return key == "id" || key == "type" || key == "etag";
}

std::string capitalized(std::string key)
{
    if (!key.empty() && key[0] >= 'a' && key[0] <= 'z')
        key[0] = static_cast<char>(key[0] - 'a' + 'A');
    return key;
}

// One row of knack's _auto_table_item: (header, value) pairs in column order.
Json table_row(const Json& item, bool sort_keys)
{
    Json row = Json::object();
    if (item.is_object()) {
        std::vector<std::string> keys;
        for (auto it = item.begin(); it != item.end(); ++it)
            keys.push_back(it.key());
        if (sort_keys)
            std::sort(keys.begin(), keys.end());
        for (const auto& k : keys) {
            const Json& v = item.at(k);
            if (!is_skipped_key(k) && !v.is_null() && !v.is_structured())
                row[capitalized(k)] = v;
        }
    } else if (item.is_array()) {
        for (std::size_t i = 0; i < item.size(); ++i)
            row["Column" + std::to_string(i + 1)] = item[i];
    } else {
        row["Result"] = item;
    }
    return row;
}

std::string padded(const std::string& text, std::size_t width)
{
    std::size_t w = jmespath::code_points(text);
    return text + std::string(width > w ? width - w : 0, ' ');
}

// tabulate trims each cell (PRESERVE_WHITESPACE is off) and splits it into lines.
std::vector<std::string> cell_lines(const std::string& text)
{
    const char* blanks = " \t\n\r\f\v";
    std::size_t b = text.find_first_not_of(blanks);
    std::string trimmed = b == std::string::npos ? "" : text.substr(b, text.find_last_not_of(blanks) - b + 1);
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < trimmed.size()) {
        std::size_t nl = trimmed.find_first_of("\r\n", start);
        lines.push_back(trimmed.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
        if (nl == std::string::npos)
            break;
        start = nl + (trimmed.compare(nl, 2, "\r\n") == 0 ? 2 : 1);
    }
    return lines;
}

std::string rstripped(std::string line)
{
    line.erase(line.find_last_not_of(' ') + 1);
    return line + "\n";
}

} // namespace

std::string format_table(const Json& value, bool sort_keys)
{
    std::vector<Json> rows;
    if (value.is_array()) {
        for (const auto& item : value)
            rows.push_back(table_row(item, sort_keys));
    } else {
        rows.push_back(table_row(value, sort_keys));
    }
    // tabulate's headers="keys": every key of every row, in the order they first appear.
    std::vector<std::string> headers;
    for (const auto& row : rows)
        for (auto it = row.begin(); it != row.end(); ++it)
            if (std::find(headers.begin(), headers.end(), it.key()) == headers.end())
                headers.push_back(it.key());
    if (rows.empty())
        return "\n";
    if (headers.empty())
        throw base::Error(base::ErrorKind::Usage, "TABLE_UNAVAILABLE",
            "Table output unavailable: the result has no fields to show. Use --query to select some, "
            "or another --output format");
    std::vector<std::size_t> width;
    for (const auto& h : headers)
        width.push_back(jmespath::code_points(h) + 2);
    std::vector<std::vector<std::vector<std::string>>> cells; // row, column, line
    for (const auto& row : rows) {
        std::vector<std::vector<std::string>> line;
        for (std::size_t c = 0; c < headers.size(); ++c) {
            auto it = row.find(headers[c]);
            line.push_back(cell_lines(it == row.end() || it->is_null() ? "" : python_str(*it)));
            for (const auto& l : line.back())
                width[c] = std::max(width[c], jmespath::code_points(l));
        }
        cells.push_back(std::move(line));
    }
    // One text line of the table: the cells two spaces apart, trailing blanks dropped.
    auto write_line = [&](const std::vector<std::string>& line) {
        std::string text;
        for (std::size_t c = 0; c < line.size(); ++c)
            text += (c ? "  " : "") + padded(line[c], width[c]);
        return rstripped(text);
    };
    std::string out = write_line(headers);
    std::vector<std::string> rule;
    for (std::size_t w : width)
        rule.push_back(std::string(w, '-'));
    out += write_line(rule);
    for (const auto& row : cells) {
        std::size_t height = 1;
        for (const auto& cell : row)
            height = std::max(height, cell.size());
        for (std::size_t i = 0; i < height; ++i) {
            std::vector<std::string> line;
            for (const auto& cell : row)
                line.push_back(i < cell.size() ? cell[i] : "");
            out += write_line(line);
        }
    }
    return out;
}

std::string format_tsv(const Json& value)
{
    std::string out;
    auto field = [](const Json& v) {
        if (v.is_array())
            return std::to_string(v.size());
        if (v.is_object())
            return std::string();
        return python_str(v);
    };
    auto row = [&](const Json& item) {
        if (item.is_structured()) {
            bool first = true;
            for (const auto& v : item) {
                out += (first ? "" : "\t") + field(v);
                first = false;
            }
        } else if (item.is_boolean()) {
            out += item.get<bool>() ? "true" : "false";
        } else {
            out += field(item);
        }
        out += "\n";
    };
    if (value.is_array()) {
        for (const auto& item : value)
            row(item);
    } else {
        row(value);
    }
    return out;
}

} // namespace qtvmm
