// What flimage's commands share (flimage.cc, flimage_index.cc): exit
// codes, messages, scratch directories, registry clients, and opening an
// image or a lazy image by name. Internal to src/cli.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cli/flimage.h"
#include "common/status.h"
#include "image/lazy_image.h"
#include "image/oci_layout.h"
#include "source/registry_client.h"

namespace feilong::cli {

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitDifferent = 3;

// Prints "flimage COMMAND: message" and returns the exit code for it.
int Fail(const char* command, const Status& status);
// "3.2 MiB".
std::string Bytes(uint64_t n);
Result<image::Platform> PlatformOrHost(const std::string& text);
// The prefetch file's lines, without empty lines and # comments.
Result<std::vector<std::string>> ReadLines(const std::string& path);

// A directory removed, with what is in it, when its owner goes.
class ScratchDir {
 public:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Result<std::unique_ptr<ScratchDir>> MakeScratch(const RegistryAccess& access);

source::RegistryClient MakeClient(const ImageName& name, const std::string& creds,
                                  const RegistryAccess& access);

// An image opened for reading; a registry image is pulled into a scratch
// layout first.
struct OpenedImage {
  std::unique_ptr<ScratchDir> scratch;
  image::OciLayout layout;
  image::Descriptor manifest;
};

Result<OpenedImage> OpenImage(const std::string& text, const std::string& platform_text,
                              const std::string& creds, const RegistryAccess& access);

struct OpenedLazyImage {
  OpenedImage opened;
  image::LazyImage image;
};

// A lazy image by name: a converted image, or an index artifact (whose
// image is pulled too, from the same repository). With `find_index`, `text`
// names the unmodified image and its index is found by the referrers API,
// the referrers tag schema or, in a layout, the manifests index.json names.
Result<OpenedLazyImage> OpenLazyImage(const std::string& text, const std::string& platform,
                                      const std::string& creds, const RegistryAccess& access,
                                      bool find_index);

}  // namespace feilong::cli
