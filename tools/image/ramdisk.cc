#include "tools/image/ramdisk.h"

#include "base/error.h"
#include "base/file.h"

#include <map>
#include <sys/stat.h>

namespace image {

void write_boot_ramdisk(const std::string& init_path, std::uint32_t mtime, const ByteSink& sink)
{
    base::UniqueFd init = base::open_read(init_path);
    struct stat st {};
    if (::fstat(init.get(), &st) != 0)
        base::throw_errno("IMG_INIT", "cannot stat", init_path);
    if (!S_ISREG(st.st_mode))
        throw base::Error(base::ErrorKind::InvalidInput, "IMG_INIT", "the guest init '" + init_path + "' is not a regular file");
    CpioWriter cpio(sink, mtime);
    cpio.add_directory("dev", 0755);
    cpio.add(CpioEntry { .name = "init", .mode = S_IFREG | 0755, .size = static_cast<std::uint64_t>(st.st_size) }, init.get(), 0, init_path);
    cpio.finish();
}

void add_mount_points(FileTree& tree)
{
    for (const char* dir : { "dev", "proc", "run", "sys", "tmp", "var" })
        tree.ensure_directory(dir);
}

namespace {

std::uint32_t type_bits(NodeType type)
{
    switch (type) {
    case NodeType::Directory: return S_IFDIR;
    case NodeType::Regular: return S_IFREG;
    case NodeType::Symlink: return S_IFLNK;
    case NodeType::CharDevice: return S_IFCHR;
    case NodeType::BlockDevice: return S_IFBLK;
    case NodeType::Fifo: return S_IFIFO;
    }
    return 0;
}

void write_tree(CpioWriter& cpio, const FileTree& tree, const ContentSources& contents)
{
    const auto& inodes = tree.inodes();
    // Hardlink groups: how many paths survive per inode, and which comes last (it gets the data).
    std::vector<std::uint32_t> links(inodes.size(), 0);
    std::vector<const std::string*> last(inodes.size(), nullptr);
    for (const auto& [path, node] : tree.nodes()) {
        if (node.type == NodeType::Regular) {
            ++links[node.inode];
            last[node.inode] = &path;
        }
    }
    std::vector<std::uint32_t> group_ino(inodes.size(), 0);
    for (const auto& [path, node] : tree.nodes()) {
        CpioEntry entry {
            .name = path.empty() ? "rootfs" : "rootfs/" + path,
            .mode = type_bits(node.type) | (node.mode & 07777),
            .uid = node.uid,
            .gid = node.gid,
        };
        switch (node.type) {
        case NodeType::Regular: {
            const Inode& inode = inodes[node.inode];
            entry.mode = S_IFREG | (inode.mode & 07777);
            entry.uid = inode.uid;
            entry.gid = inode.gid;
            bool carries_data = last[node.inode] == &path;
            if (links[node.inode] > 1) {
                if (!group_ino[node.inode])
                    group_ino[node.inode] = cpio.allocate_ino();
                entry.ino = group_ino[node.inode];
                entry.nlink = links[node.inode];
            }
            entry.size = carries_data ? inode.size : 0;
            cpio.add(std::move(entry), contents.fd(inode.data_source), inode.data_offset, contents.name(inode.data_source));
            break;
        }
        case NodeType::Symlink:
            entry.size = node.symlink_target.size();
            cpio.add(std::move(entry), node.symlink_target);
            break;
        case NodeType::Directory:
            entry.nlink = 2;
            cpio.add(std::move(entry), std::string_view {});
            break;
        case NodeType::CharDevice:
        case NodeType::BlockDevice:
            entry.rdev_major = node.rdev_major;
            entry.rdev_minor = node.rdev_minor;
            cpio.add(std::move(entry), std::string_view {});
            break;
        case NodeType::Fifo:
            cpio.add(std::move(entry), std::string_view {});
            break;
        }
    }
}

} // namespace

void write_app_ramdisk(const FileTree& tree, const ContentSources& contents, const LaunchConfig& launch, std::uint32_t mtime, const ByteSink& sink)
{
    std::map<std::string, std::string> root_files { { "cmd", to_lines(launch.argv) }, { "env", to_lines(launch.env) } };
    if (launch.user)
        root_files["user"] = *launch.user + "\n";
    if (launch.workdir)
        root_files["workdir"] = *launch.workdir + "\n";
    if (launch.forward)
        root_files["forward"] = *launch.forward;

    CpioWriter cpio(sink, mtime);
    // Byte order of all names: the root files sorting before "rootfs", the tree, the rest.
    auto split = root_files.lower_bound("rootfs");
    for (auto it = root_files.begin(); it != split; ++it)
        cpio.add_file(it->first, 0644, it->second);
    write_tree(cpio, tree, contents);
    for (auto it = split; it != root_files.end(); ++it)
        cpio.add_file(it->first, 0644, it->second);
    cpio.finish();
}

} // namespace image
