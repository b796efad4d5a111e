// fl_image_metadata: the size and decoding time of lazy-image metadata
// (docs/image-format.md) for a real directory tree, the figures that
// decide between our own metadata and an EROFS image
// (bench/image_metadata.sh compares with mkfs.erofs on the same tree).
//
// The tree is walked as a converter would see it (lstat, readlink, xattrs,
// hard links); every chunk of every file counts as distinct (no dedup, the
// largest metadata), with placeholder digests: content does not change the
// metadata's size. Prints one line of key=value pairs.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "image/tree_builder.h"

namespace {

using feilong::Status;
using feilong::image::Attributes;
using feilong::image::TreeBuilder;
namespace fs = std::filesystem;

std::vector<std::pair<std::string, std::string>> Xattrs(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> out;
  ssize_t size = ::llistxattr(path.c_str(), nullptr, 0);
  if (size <= 0) {
    return out;
  }
  std::string names(static_cast<size_t>(size), '\0');
  size = ::llistxattr(path.c_str(), names.data(), names.size());
  for (size_t at = 0; size > 0 && at < static_cast<size_t>(size);) {
    std::string name(names.c_str() + at);
    at += name.size() + 1;
    ssize_t length = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    std::string value(length > 0 ? static_cast<size_t>(length) : 0, '\0');
    if (length > 0) {
      length = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    }
    if (length >= 0) {
      value.resize(static_cast<size_t>(length));
      out.emplace_back(std::move(name), std::move(value));
    }
  }
  return out;
}

int Fail(const Status& status) {
  std::fprintf(stderr, "fl_image_metadata: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Size and decoding time of lazy-image metadata for a directory tree"};
  std::string tree;
  uint32_t chunk_size = feilong::image::kDefaultChunkSize;
  int decodes = 20;
  app.add_option("--tree", tree, "directory to describe")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--chunk-size", chunk_size, "chunk size in bytes (power of two)")
      ->capture_default_str();
  app.add_option("--decodes", decodes, "decodes timed (median printed)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);

  const auto build_start = std::chrono::steady_clock::now();
  TreeBuilder builder(chunk_size);
  const uint32_t blob = builder.AddBlob({.size = ~uint64_t{0} >> 1});
  uint64_t next_offset = 0;
  uint64_t entries = 0;
  std::map<std::pair<dev_t, ino_t>, std::string> first_name;
  for (auto it = fs::recursive_directory_iterator(tree); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string full = it->path().string();
    const std::string path = it->path().lexically_relative(tree).string();
    struct stat st {};
    if (::lstat(full.c_str(), &st) != 0) {
      continue;
    }
    ++entries;
    Attributes a{.mode = st.st_mode & 07777u,
                 .uid = st.st_uid,
                 .gid = st.st_gid,
                 .mtime_sec = st.st_mtim.tv_sec,
                 .mtime_nsec = static_cast<uint32_t>(st.st_mtim.tv_nsec),
                 .xattrs = Xattrs(full)};
    Status added;
    if (S_ISDIR(st.st_mode)) {
      added = builder.AddDirectory(path, a);
    } else if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 &&
               first_name.contains({st.st_dev, st.st_ino})) {
      added = builder.AddHardLink(path, first_name[{st.st_dev, st.st_ino}]);
    } else if (S_ISREG(st.st_mode)) {
      first_name.emplace(std::make_pair(st.st_dev, st.st_ino), path);
      std::vector<uint32_t> chunks;
      const auto size = static_cast<uint64_t>(st.st_size);
      for (uint64_t at = 0; at < size; at += chunk_size) {
        const auto length = static_cast<uint32_t>(std::min<uint64_t>(chunk_size, size - at));
        auto chunk = builder.AddChunk({.digest = feilong::Sha256(path + "#" + std::to_string(at)),
                                       .compressed_offset = next_offset,
                                       .compressed_size = length,
                                       .uncompressed_size = length,
                                       .blob_index = blob});
        if (!chunk.ok()) {
          return Fail(chunk.status());
        }
        next_offset += length;
        chunks.push_back(*chunk);
      }
      added = builder.AddRegular(path, a, size, std::move(chunks));
    } else if (S_ISLNK(st.st_mode)) {
      std::error_code error;
      added = builder.AddSymlink(path, a, fs::read_symlink(it->path(), error).string());
    } else {
      first_name.emplace(std::make_pair(st.st_dev, st.st_ino), path);
      added = builder.AddSpecial(path, st.st_mode & S_IFMT, a, st.st_rdev);
    }
    if (!added.ok()) {
      return Fail(added);
    }
  }
  auto built = builder.Build();
  if (!built.ok()) {
    return Fail(built.status());
  }
  const std::string bytes = built->Encode();
  const double build_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - build_start)
          .count();

  std::vector<double> decode_ms;
  for (int i = 0; i < decodes; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto decoded = feilong::image::Metadata::Decode(bytes);
    decode_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
    if (!decoded.ok()) {
      return Fail(decoded.status());
    }
  }
  std::sort(decode_ms.begin(), decode_ms.end());
  std::printf(
      "entries=%llu inodes=%zu chunks=%zu metadata_bytes=%zu bytes_per_10k_entries=%.0f "
      "walk_and_build_ms=%.1f decode_ms_median=%.2f\n",
      static_cast<unsigned long long>(entries), built->inodes.size(), built->chunks.size(),
      bytes.size(), entries == 0 ? 0.0 : bytes.size() * 10000.0 / static_cast<double>(entries),
      build_ms, decode_ms[decode_ms.size() / 2]);
  return 0;
}
