#include "cli/flimage_common.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <utility>

#include "image/docker_archive.h"
#include "image/registry_copy.h"

namespace feilong::cli {

using image::Descriptor;
using image::OciLayout;

int Fail(const char* command, const Status& status) {
  std::fprintf(stderr, "flimage %s: %s\n", command, status.message().c_str());
  return status.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
}

std::string Bytes(uint64_t n) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(n);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, kUnits[unit]);
  return text;
}

Result<image::Platform> PlatformOrHost(const std::string& text) {
  if (text.empty()) {
    return image::Platform::Host();
  }
  return image::Platform::Parse(text);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Result<std::unique_ptr<ScratchDir>> MakeScratch(const RegistryAccess& access) {
  std::string pattern = access.work_dir + "/flimage-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return Status::FromErrno(errno, "make a work directory in " + access.work_dir);
  }
  return std::make_unique<ScratchDir>(pattern);
}

source::RegistryClient MakeClient(const ImageName& name, const std::string& creds,
                                  const RegistryAccess& access) {
  source::RegistryOptions options;
  const size_t colon = creds.find(':');
  options.username = creds.substr(0, colon);
  options.password = colon == std::string::npos ? "" : creds.substr(colon + 1);
  options.plain_http = access.plain_http;
  options.tls_verify = !access.insecure;
  options.ca_file = access.ca_file;
  return source::RegistryClient(name.registry.host, options);
}

Result<OpenedImage> OpenImage(const std::string& text, const std::string& platform_text,
                              const std::string& creds, const RegistryAccess& access) {
  FL_ASSIGN_OR_RETURN(ImageName name, ImageName::Parse(text));
  FL_ASSIGN_OR_RETURN(image::Platform platform, PlatformOrHost(platform_text));
  if (!name.is_registry() && !name.is_archive()) {
    FL_ASSIGN_OR_RETURN(OciLayout layout, OciLayout::Open(name.dir));
    FL_ASSIGN_OR_RETURN(Descriptor manifest, layout.Resolve(name.reference, platform));
    return OpenedImage{nullptr, std::move(layout), std::move(manifest)};
  }
  FL_ASSIGN_OR_RETURN(std::unique_ptr<ScratchDir> scratch, MakeScratch(access));
  FL_ASSIGN_OR_RETURN(OciLayout layout, OciLayout::OpenOrCreate(scratch->path() + "/layout"));
  if (name.is_archive()) {
    FL_ASSIGN_OR_RETURN(Descriptor manifest,
                        image::ImportDockerArchive(name.archive, name.reference, layout));
    return OpenedImage{std::move(scratch), std::move(layout), std::move(manifest)};
  }
  source::RegistryClient client = MakeClient(name, creds, access);
  FL_ASSIGN_OR_RETURN(Descriptor manifest,
                      image::PullImage(client, name.registry, platform, layout));
  return OpenedImage{std::move(scratch), std::move(layout), std::move(manifest)};
}

namespace {

// The index of `opened` (an unmodified image), pulled into its layout when
// it is in a registry.
Result<image::Descriptor> FindIndex(const ImageName& name, OpenedImage& opened,
                                    const image::Platform& platform, const std::string& creds,
                                    const RegistryAccess& access) {
  if (!name.is_registry()) {
    return opened.layout.FindReferrer(opened.manifest.digest, image::kFeilongIndexArtifactType);
  }
  source::RegistryClient client = MakeClient(name, creds, access);
  FL_ASSIGN_OR_RETURN(image::Descriptor found,
                      image::FindReferrer(client, name.registry.repository, opened.manifest.digest,
                                          image::kFeilongIndexArtifactType));
  image::RegistryImage index = name.registry;
  index.reference = Sha256String(found.digest);
  return image::PullImage(client, index, platform, opened.layout);
}

// Pulls the image an index artifact pulled from a registry is about.
Status PullIndexedImage(const ImageName& name, OpenedImage& opened, const image::Platform& platform,
                        const std::string& creds, const RegistryAccess& access) {
  FL_ASSIGN_OR_RETURN(image::ImageManifest manifest, opened.layout.ReadManifest(opened.manifest));
  if (manifest.artifact_type != image::kFeilongIndexArtifactType || !manifest.subject) {
    return Status::Ok();
  }
  source::RegistryClient client = MakeClient(name, creds, access);
  image::RegistryImage subject = name.registry;
  subject.reference = Sha256String(manifest.subject->digest);
  return image::PullImage(client, subject, platform, opened.layout).status();
}

}  // namespace

Result<OpenedLazyImage> OpenLazyImage(const std::string& text, const std::string& platform_text,
                                      const std::string& creds, const RegistryAccess& access,
                                      bool find_index) {
  FL_ASSIGN_OR_RETURN(ImageName name, ImageName::Parse(text));
  FL_ASSIGN_OR_RETURN(image::Platform platform, PlatformOrHost(platform_text));
  FL_ASSIGN_OR_RETURN(OpenedImage opened, OpenImage(text, platform_text, creds, access));
  image::Descriptor lazy = opened.manifest;
  if (find_index) {
    FL_ASSIGN_OR_RETURN(lazy, FindIndex(name, opened, platform, creds, access));
  } else if (name.is_registry()) {
    FL_RETURN_IF_ERROR(PullIndexedImage(name, opened, platform, creds, access));
  }
  FL_ASSIGN_OR_RETURN(image::LazyImage image, image::LazyImage::Open(opened.layout, lazy));
  return OpenedLazyImage{std::move(opened), std::move(image)};
}

Result<std::vector<std::string>> ReadLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Status::InvalidArgument("cannot read prefetch file " + path);
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && !line.starts_with("#")) {
      lines.push_back(line);
    }
  }
  return lines;
}

}  // namespace feilong::cli
