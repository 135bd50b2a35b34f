// tools/image/ramdisk.h — the two ramdisks of an enclave image, as newc cpio streams:
//
//   ramdisk 0 (boot):  dev/ (dir 0755), init (0755, the static guest init)
//   ramdisk 1 (app):   cmd, env [, user, workdir] (0644) at the root and the merged image
//                      filesystem under rootfs/, with rootfs/{dev,proc,run,sys,tmp,var} added
//                      (0755) when the image lacks them
//
// Both are deterministic: entries in byte order of their paths, one mtime for everything,
// sequential inode numbers, hardlinks as in the kernel's initramfs format (see cpio_writer.h).
//
// Usage:
//     image::write_boot_ramdisk(init_path, mtime, sink);
//     image::add_mount_points(tree);
//     image::write_app_ramdisk(tree, sources, launch, mtime, sink);   // sources: see content_sources.h
#pragma once

#include "tools/image/content_sources.h"
#include "tools/image/cpio_writer.h"
#include "tools/image/file_tree.h"
#include "tools/image/launch_config.h"

#include <cstdint>
#include <string>

namespace image {

void write_boot_ramdisk(const std::string& init_path, std::uint32_t mtime, const ByteSink& sink);

// Adds dev, proc, run, sys, tmp, var (0755) where the image has nothing of that name.
void add_mount_points(FileTree& tree);

// contents holds the regular files' bytes where the tree's inodes say.
void write_app_ramdisk(const FileTree& tree, const ContentSources& contents, const LaunchConfig& launch, std::uint32_t mtime, const ByteSink& sink);

} // namespace image
