#include "tools/image/app_entry.h"

#include "guest-init/launch_files.h"

#include <deque>
#include <vector>

namespace image {

namespace {

std::deque<std::string> components_of(const std::string& path)
{
    std::deque<std::string> out;
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string::npos)
            end = path.size();
        if (end > start)
            out.push_back(path.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

std::string join(const std::vector<std::string>& parts)
{
    std::string out;
    for (const auto& p : parts)
        out += (out.empty() ? "" : "/") + p;
    return out;
}

} // namespace

const Inode* resolve_regular_file(const FileTree& tree, const std::string& path)
{
    std::vector<std::string> done;  // resolved directories so far, from the root
    std::deque<std::string> todo = components_of(path);
    for (int hops = 0; !todo.empty();) {
        std::string part = todo.front();
        todo.pop_front();
        if (part == ".")
            continue;
        if (part == "..") {
            if (!done.empty())
                done.pop_back();
            continue;
        }
        done.push_back(part);
        const Node* node = tree.find(join(done));
        if (!node)
            return nullptr;
        if (node->type == NodeType::Symlink) {
            if (++hops > 32)
                return nullptr;
            done.pop_back();
            if (!node->symlink_target.empty() && node->symlink_target[0] == '/')
                done.clear();
            std::deque<std::string> target = components_of(node->symlink_target);
            todo.insert(todo.begin(), target.begin(), target.end());
            continue;
        }
        if (todo.empty())
            return node->type == NodeType::Regular ? &tree.inodes()[node->inode] : nullptr;
        if (node->type != NodeType::Directory)
            return nullptr;
    }
    return nullptr;
}

const Inode* find_app_entry(const FileTree& tree, const LaunchConfig& launch)
{
    if (launch.argv.empty() || launch.argv[0].empty())
        return nullptr;
    const std::string& name = launch.argv[0];
    if (name.find('/') != std::string::npos)
        return resolve_regular_file(tree, name[0] == '/' ? name : launch.workdir.value_or("/") + "/" + name);
    std::string path = guest_init::kDefaultPath;
    for (const std::string& var : launch.env)
        if (var.rfind("PATH=", 0) == 0)
            path = var.substr(5);
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find(':', start);
        if (end == std::string::npos)
            end = path.size();
        std::string dir = path.substr(start, end - start);
        if (!dir.empty() && dir[0] == '/')
            if (const Inode* found = resolve_regular_file(tree, dir + "/" + name))
                return found;
        start = end + 1;
    }
    return nullptr;
}

} // namespace image
