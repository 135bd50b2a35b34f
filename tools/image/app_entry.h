// tools/image/app_entry.h — finds the file the guest init will exec for an image's argv[0] in
// the merged layers, the way guest-init does: a name with '/' as is (relative to WorkingDir), a
// bare name through the image's PATH (guest-init's default PATH when it sets none), symlinks
// followed inside the image root. make-img reads its first bytes to check its architecture.
//
// Usage:
//     if (const image::Inode* exe = image::find_app_entry(tree, launch)) sources.pread(*exe, buf, n, 0);
#pragma once

#include "tools/image/file_tree.h"
#include "tools/image/launch_config.h"

#include <string>

namespace image {

// The regular file that argv[0] names, or nullptr (not found: guest-init reports that at run time).
const Inode* find_app_entry(const FileTree& tree, const LaunchConfig& launch);

// The regular file at an absolute or root-relative path, following symlinks (at most 32) inside
// the image root; nullptr when missing, not a regular file, or a symlink loop.
const Inode* resolve_regular_file(const FileTree& tree, const std::string& path);

} // namespace image
