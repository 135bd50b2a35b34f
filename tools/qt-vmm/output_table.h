// tools/qt-vmm/output_table.h — knack's table and tsv.
//
// table (knack's _TableOutput through tabulate's "simple" format): one row per element of a list
// result (a single row for anything else); an object row shows its scalar fields, keys sorted
// unless a query shaped the result, headers with the first letter capitalised, fields named id,
// type or etag and null, list or object fields left out; a list row becomes Column1..N, a scalar
// row Result. Columns are left-aligned, as wide as the widest cell or the header plus two, two
// spaces apart, under a rule of dashes. No row at all: an empty line.
// tsv (knack's _TsvOutput): one line per row, its values tab-separated in the object's order, a
// list as its length, an object as an empty field, None/True/False as Python writes them; a
// top-level true/false row as true/false. No header, nothing for an empty list.
//
// Usage:
//     std::string t = qtvmm::format_table(result, /*sort_keys=*/true);   // throws base::Error
//     std::string s = qtvmm::format_tsv(sort_keys(result));
#pragma once

#include "tools/qt-vmm/output.h"

#include <string>

namespace qtvmm {

std::string format_table(const Json& value, bool sort_keys);
std::string format_tsv(const Json& value);

} // namespace qtvmm
