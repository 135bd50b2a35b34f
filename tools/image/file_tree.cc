#include "tools/image/file_tree.h"

#include "base/error.h"

#include <deque>

namespace image {

namespace {

constexpr int kMaxSymlinkHops = 40;
const std::string kWhiteoutPrefix = ".wh.";
const std::string kOpaqueMarker = ".wh..wh..opq";

std::string join(const std::string& dir, const std::string& name)
{
    return dir.empty() ? name : dir + "/" + name;
}

// [first, last) of the strict descendants of path in a path-sorted map.
template<typename Map>
auto descendants(Map& nodes, const std::string& path)
{
    if (path.empty())
        return std::make_pair(nodes.upper_bound(""), nodes.end());
    // Every descendant starts with "path/"; '0' is the byte after '/'.
    return std::make_pair(nodes.lower_bound(path + "/"), nodes.lower_bound(path + "0"));
}

[[noreturn]] void bad_entry(const std::string& code, const std::string& message)
{
    throw base::Error(base::ErrorKind::InvalidInput, code, message);
}

} // namespace

std::vector<std::string> split_entry_path(const std::string& path, const std::string& what)
{
    if (!path.empty() && path[0] == '/')
        bad_entry("IMG_LAYER_ABSOLUTE_PATH", what + " '" + path + "' is an absolute path; image layers must hold paths relative to the root");
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t slash = path.find('/', start);
        if (slash == std::string::npos)
            slash = path.size();
        std::string part = path.substr(start, slash - start);
        start = slash + 1;
        if (part.empty() || part == ".")
            continue;
        if (part == "..") {
            if (parts.empty())
                bad_entry("IMG_LAYER_PATH_ESCAPE", what + " '" + path + "' climbs out of the image root with '..'; the layer is malformed or hostile");
            parts.pop_back();
            continue;
        }
        parts.push_back(std::move(part));
    }
    return parts;
}

FileTree::FileTree()
{
    m_nodes.emplace("", Node { .type = NodeType::Directory, .mode = 0755 });
}

const Node* FileTree::find(const std::string& path) const
{
    auto it = m_nodes.find(path);
    return it == m_nodes.end() ? nullptr : &it->second;
}

void FileTree::ensure_directory(const std::string& path)
{
    if (!m_nodes.count(path))
        m_nodes.emplace(path, Node { .type = NodeType::Directory, .mode = 0755 });
}

std::optional<std::string> FileTree::resolve_directory(const std::vector<std::string>& components, bool create, unsigned layer, const std::string& entry_path)
{
    std::deque<std::string> todo(components.begin(), components.end());
    std::vector<std::string> done;
    std::string current;
    int hops = 0;
    while (!todo.empty()) {
        std::string part = std::move(todo.front());
        todo.pop_front();
        if (part.empty() || part == ".")
            continue;
        if (part == "..") { // only from symlink targets; clamped at the root like a chroot
            if (!done.empty())
                done.pop_back();
            current.clear();
            for (const auto& d : done)
                current = join(current, d);
            continue;
        }
        std::string next = join(current, part);
        auto it = m_nodes.find(next);
        if (it == m_nodes.end()) {
            if (!create)
                return std::nullopt;
            m_nodes.emplace(next, Node { .type = NodeType::Directory, .mode = 0755, .layer = layer });
        } else if (it->second.type == NodeType::Symlink) {
            if (++hops > kMaxSymlinkHops)
                bad_entry("IMG_LAYER_SYMLINK_LOOP", "layer entry '" + entry_path + "': too many symlinks while resolving its parent directory (a loop?)");
            const std::string& target = it->second.symlink_target;
            if (!target.empty() && target[0] == '/') {
                done.clear();
                current.clear();
            }
            std::vector<std::string> parts;
            std::size_t start = 0;
            while (start <= target.size()) {
                std::size_t slash = target.find('/', start);
                if (slash == std::string::npos)
                    slash = target.size();
                parts.push_back(target.substr(start, slash - start));
                start = slash + 1;
            }
            todo.insert(todo.begin(), parts.begin(), parts.end());
            continue;
        } else if (it->second.type != NodeType::Directory) {
            if (!create)
                return std::nullopt;
            bad_entry("IMG_LAYER_NOT_A_DIRECTORY", "layer entry '" + entry_path + "' lies below '" + next + "', which is not a directory in the image");
        }
        done.push_back(part);
        current = std::move(next);
    }
    return current;
}

void FileTree::remove_subtree(const std::string& path)
{
    auto [first, last] = descendants(m_nodes, path);
    m_nodes.erase(first, last);
    if (!path.empty())
        m_nodes.erase(path);
}

void FileTree::remove_lower(const std::string& path, unsigned layer, bool keep_self)
{
    auto [first, last] = descendants(m_nodes, path);
    bool kept_any = false;
    for (auto it = first; it != last;) {
        if (it->second.layer < layer) {
            it = m_nodes.erase(it);
        } else {
            kept_any = true;
            ++it;
        }
    }
    if (path.empty() || keep_self)
        return;
    auto it = m_nodes.find(path);
    if (it != m_nodes.end() && it->second.layer < layer && !kept_any)
        m_nodes.erase(it);
}

void FileTree::replace(const std::string& path, Node node)
{
    auto it = m_nodes.find(path);
    if (it != m_nodes.end()) {
        if (it->second.type == NodeType::Directory && node.type == NodeType::Directory) {
            it->second.mode = node.mode;
            it->second.uid = node.uid;
            it->second.gid = node.gid;
            it->second.layer = node.layer;
            return;
        }
        if (it->second.type == NodeType::Directory)
            remove_subtree(path);
        else {
            it->second = std::move(node);
            return;
        }
    }
    m_nodes.insert_or_assign(path, std::move(node));
}

void FileTree::apply(unsigned layer, const LayerEntry& entry, std::uint64_t data_offset, std::uint32_t data_source)
{
    std::vector<std::string> parts = split_entry_path(entry.path, "layer entry");
    if (parts.empty()) { // the root itself ("./")
        if (!entry.hardlink && entry.type == NodeType::Directory) {
            Node& root = m_nodes[""];
            root.mode = entry.mode & 07777;
            root.uid = entry.uid;
            root.gid = entry.gid;
        }
        return;
    }
    std::string name = parts.back();
    parts.pop_back();

    if (name.compare(0, kWhiteoutPrefix.size(), kWhiteoutPrefix) == 0) {
        std::optional<std::string> dir = resolve_directory(parts, false, layer, entry.path);
        if (!dir)
            return; // whiting out something in a directory that does not exist: nothing to do
        if (name == kOpaqueMarker) {
            remove_lower(*dir, layer, /*keep_self=*/true);
            return;
        }
        std::string hidden = name.substr(kWhiteoutPrefix.size());
        if (hidden.empty() || hidden == "." || hidden == ".." || hidden.compare(0, kWhiteoutPrefix.size(), kWhiteoutPrefix) == 0)
            return; // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not part of the image
        remove_lower(join(*dir, hidden), layer, /*keep_self=*/false);
        return;
    }

    std::string dir = *resolve_directory(parts, true, layer, entry.path);
    std::string path = join(dir, name);

    if (entry.hardlink) {
        std::vector<std::string> target_parts = split_entry_path(entry.link_target, "hardlink target of '" + entry.path + "'");
        if (target_parts.empty())
            bad_entry("IMG_LAYER_BAD_HARDLINK", "layer entry '" + entry.path + "' is a hardlink to the root directory");
        std::string target_name = target_parts.back();
        target_parts.pop_back();
        std::optional<std::string> target_dir = resolve_directory(target_parts, false, layer, entry.link_target);
        const Node* target = target_dir ? find(join(*target_dir, target_name)) : nullptr;
        if (!target)
            bad_entry("IMG_LAYER_BAD_HARDLINK", "layer entry '" + entry.path + "' is a hardlink to '" + entry.link_target + "', which does not exist in the image at that point");
        if (target->type == NodeType::Directory)
            bad_entry("IMG_LAYER_BAD_HARDLINK", "layer entry '" + entry.path + "' is a hardlink to the directory '" + entry.link_target + "'");
        std::string target_path = join(*target_dir, target_name);
        if (target_path == path)
            return;
        Node copy = *target; // regular files share the inode; other types are plain copies
        copy.layer = layer;
        replace(path, std::move(copy));
        return;
    }

    Node node {
        .type = entry.type,
        .mode = entry.mode & 07777,
        .uid = entry.uid,
        .gid = entry.gid,
        .layer = layer,
    };
    switch (entry.type) {
    case NodeType::Regular:
        node.inode = m_inodes.size();
        m_inodes.push_back(Inode { .data_offset = data_offset, .data_source = data_source, .size = entry.size, .mode = node.mode, .uid = entry.uid, .gid = entry.gid });
        break;
    case NodeType::Symlink:
        node.symlink_target = entry.link_target;
        break;
    case NodeType::CharDevice:
    case NodeType::BlockDevice:
        node.rdev_major = entry.rdev_major;
        node.rdev_minor = entry.rdev_minor;
        break;
    case NodeType::Directory:
    case NodeType::Fifo:
        break;
    }
    replace(path, std::move(node));
}

} // namespace image
