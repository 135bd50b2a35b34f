// base/executable_dir.h — where the running program lives, for what it finds beside itself
// (qt-vmm's companion qt-vmm-tools, the kernel in ../kernel/).
//
//     std::string dir = base::executable_dir();   // e.g. "/usr/lib/qt-vmm/bin"
#pragma once

#include <string>

namespace base {

// The directory of /proc/self/exe; "." if it cannot be read.
std::string executable_dir();

} // namespace base
