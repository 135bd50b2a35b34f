// tools/image/file_tree.h — the merged filesystem of an image's layers (metadata only).
//
// Layers are applied in order, entry by entry, with the OCI/overlay rules: a later entry replaces
// an earlier one at the same path (a non-directory replacing a directory removes its subtree; a
// directory over a directory only updates mode/owner), ".wh.NAME" removes NAME and everything
// below it from lower layers, ".wh..wh..opq" removes everything below its directory from lower
// layers, hardlinks share one inode (also across layers), parent directories that a layer never
// lists are created (0755, root), and a parent that is a symlink is followed inside the image
// root. Paths that are absolute or climb out with ".." are rejected.
//
// File contents are not held here: each regular file's inode records where its bytes are (a
// source — the spill file or a layer blob read in place, see content_sources.h — and an offset
// in it), so memory stays proportional to the number of entries.
//
// Usage:
//     image::FileTree tree;
//     tree.apply(0, { .path = "etc/passwd", .type = image::NodeType::Regular, .mode = 0644, .size = n }, offset);
//     tree.apply(1, { .path = "etc/.wh.passwd", .type = image::NodeType::Regular });
//     for (const auto& [path, node] : tree.nodes()) ...        // sorted by path; "" is the root
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace image {

enum class NodeType { Directory, Regular, Symlink, CharDevice, BlockDevice, Fifo };

// One tar entry, as the layer reader saw it.
struct LayerEntry {
    std::string path {};       // as in the tar ("./usr/bin/x", "usr/bin/")
    NodeType type { NodeType::Regular };
    bool hardlink { false };   // a hardlink to link_target (type is then ignored)
    std::string link_target {}; // symlink target or hardlink path
    std::uint32_t mode { 0644 }; // permission bits incl. setuid/setgid/sticky
    std::uint32_t uid { 0 };
    std::uint32_t gid { 0 };
    std::uint32_t rdev_major { 0 };
    std::uint32_t rdev_minor { 0 };
    std::uint64_t size { 0 };  // regular file size
};

// A regular file's contents and identity; hardlinked paths share one.
struct Inode {
    std::uint64_t data_offset { 0 };
    std::uint32_t data_source { 0 }; // index into ContentSources; 0 is the spill file
    std::uint64_t size { 0 };
    std::uint32_t mode { 0 };
    std::uint32_t uid { 0 };
    std::uint32_t gid { 0 };
};

struct Node {
    NodeType type { NodeType::Directory };
    std::uint32_t mode { 0755 }; // permission bits (for regular files: see the inode)
    std::uint32_t uid { 0 };
    std::uint32_t gid { 0 };
    std::string symlink_target {};
    std::uint32_t rdev_major { 0 };
    std::uint32_t rdev_minor { 0 };
    std::size_t inode { 0 };     // index into inodes() for regular files
    unsigned layer { 0 };        // the layer that last wrote this entry
};

class FileTree {
public:
    FileTree();

    // Applies one entry of layer `layer` (layers must be applied in increasing order). For a
    // regular file (not a hardlink), its entry.size bytes are at data_offset in data_source.
    // Throws base::Error for paths escaping the root, hardlinks to missing files, symlink loops.
    void apply(unsigned layer, const LayerEntry& entry, std::uint64_t data_offset = 0, std::uint32_t data_source = 0);

    // Adds a directory (0755, root) unless something already exists at path.
    void ensure_directory(const std::string& path);

    // Every entry, sorted by path (byte order); the root is "".
    const std::map<std::string, Node>& nodes() const { return m_nodes; }
    const std::vector<Inode>& inodes() const { return m_inodes; }
    const Node* find(const std::string& path) const;

private:
    // The real path of the directory named by components (following symlinks inside the root);
    // creates missing directories when create is set, else returns nullopt for a missing one.
    std::optional<std::string> resolve_directory(const std::vector<std::string>& components, bool create, unsigned layer, const std::string& entry_path);
    // Removes the subtree below path, and (unless keep_self) path itself, but only the parts
    // written by layers below `layer`.
    void remove_lower(const std::string& path, unsigned layer, bool keep_self);
    void remove_subtree(const std::string& path);
    void replace(const std::string& path, Node node);

    std::map<std::string, Node> m_nodes;
    std::vector<Inode> m_inodes;
};

// "a/./b//c/" → {"a","b","c"}; "." and "./" → {} (the root). Throws base::Error for absolute
// paths and ".." that would climb above the root (what names the entry: "layer 2 entry").
std::vector<std::string> split_entry_path(const std::string& path, const std::string& what);

} // namespace image
