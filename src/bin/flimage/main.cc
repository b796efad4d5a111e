// flimage: make and read lazy images.
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "cli/flimage.h"

namespace {

void AddRegistryFlags(CLI::App* command, feilong::cli::RegistryAccess& access) {
  command->add_flag("--plain-http", access.plain_http,
                    "Reach registries over http:// (a local registry), not https://");
  command->add_flag("--insecure", access.insecure, "Do not check registries' TLS certificates");
  command->add_option("--ca-file", access.ca_file,
                      "PEM CA bundle to check registries' certificates with (default: the "
                      "system's)");
  command
      ->add_option("--work-dir", access.work_dir,
                   "Scratch space: registry images pulled and pushed, and layer stretches "
                   "read through an index (removed after)")
      ->capture_default_str();
}

// The flags of a command that reads one lazy image: how it is found, its
// platform and registry.
void AddImageFlags(CLI::App* command, bool& index, std::string& platform, std::string& creds,
                   feilong::cli::RegistryAccess& access) {
  command->add_flag("--index", index,
                    "IMAGE is an unmodified image: read it through its index (flimage index), "
                    "found by the referrers API, the referrers tag or in its layout");
  command->add_option("--platform", platform, "OS/ARCH[/VARIANT] (default: this host's)");
  command->add_option("--creds", creds, "USER:PASSWORD for registry images");
  AddRegistryFlags(command, access);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "flimage: convert OCI images to Feilong lazy images, or index them as they are, and\n"
      "check, inspect and unpack either.\n"
      "Images are oci:DIR[:REF] (an OCI image layout; REF a tag or sha256:<hex>) or\n"
      "docker://HOST/REPO[:TAG|@DIGEST] (a registry); a source may also be\n"
      "docker-archive:FILE[:REPO:TAG] (docker save output).\n"
      "Exit codes: 0 ok, 1 failure (not found, corrupt or unreadable input, refused\n"
      "credentials, I/O), 2 bad usage or input,\n"
      "3 check found the image different from its source"};
  app.require_subcommand(1);

  feilong::cli::ConvertCommand convert;
  bool no_progress = false;
  CLI::App* c = app.add_subcommand("convert", "Convert SRC (an OCI image) to a lazy image DST");
  c->add_option(
       "SRC", convert.source,
       "Source image, oci:DIR[:REF], docker://HOST/REPO[:TAG] or docker-archive:FILE[:REPO:TAG]")
      ->required();
  c->add_option("DST", convert.destination,
                "Destination, oci:DIR[:REF] (created if missing) or docker://HOST/REPO[:TAG]; "
                "TAG default: the source's tag + \"-feilong\"")
      ->required();
  c->add_option("--platform", convert.platform,
                "OS/ARCH[/VARIANT] to take from a multi-platform image (default: this host's)");
  c->add_option("--chunk-size", convert.chunk_size, "Chunk size, a power of two from 4KiB to 16MiB")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  c->add_option("--compression", convert.compression, "zstd, lz4 or none")->capture_default_str();
  c->add_option("--prefetch", convert.prefetch,
                "A path or glob pattern of files to read first at run time; repeatable, in order");
  c->add_option("--prefetch-file", convert.prefetch_file,
                "File of prefetch paths or patterns, one per line (e.g. a recorded access trace)");
  c->add_option(
      "--chunk-dict", convert.chunk_dicts,
      "A lazy image (any image name) whose chunks are reused, not stored again; repeatable");
  c->add_flag("--no-progress", no_progress, "Never draw progress (default: on a terminal)");
  c->add_option("--src-creds", convert.source_creds,
                "USER:PASSWORD for the source's (and chunk dictionaries') registry");
  c->add_option("--dest-creds", convert.destination_creds, "USER:PASSWORD for DST's registry");
  AddRegistryFlags(c, convert.access);

  feilong::cli::CheckCommand check;
  CLI::App* k = app.add_subcommand(
      "check", "Verify every digest of a lazy image, and compare it with its source image");
  k->add_option("IMAGE", check.image, "Lazy image, oci:DIR[:REF] or docker://HOST/REPO[:TAG]")
      ->required();
  k->add_option("--source", check.source,
                "The image it was converted from (any image name): the trees, metadata and bytes "
                "must be the same");
  AddImageFlags(k, check.index, check.platform, check.creds, check.access);

  feilong::cli::InspectCommand inspect;
  CLI::App* i = app.add_subcommand(
      "inspect", "Print a lazy image's chunk statistics, dedup ratio, blobs and prefetch list");
  i->add_option("IMAGE", inspect.image, "Lazy image, oci:DIR[:REF] or docker://HOST/REPO[:TAG]")
      ->required();
  AddImageFlags(i, inspect.index, inspect.platform, inspect.creds, inspect.access);
  i->add_flag("--tree", inspect.tree, "Also list every inode: mode, owner, size, path");

  feilong::cli::UnpackCommand unpack;
  CLI::App* u = app.add_subcommand("unpack", "Write a lazy image's root filesystem as a tar");
  u->add_option("IMAGE", unpack.image, "Lazy image, oci:DIR[:REF] or docker://HOST/REPO[:TAG]")
      ->required();
  u->add_option("-o,--output", unpack.output, "Tar file to write, - for standard output")
      ->required();
  AddImageFlags(u, unpack.index, unpack.platform, unpack.creds, unpack.access);

  feilong::cli::IndexCommand index;
  CLI::App* x = app.add_subcommand(
      "index", "Index IMAGE, left as it is, for lazy start: an artifact beside it (its subject)");
  x->add_option("IMAGE", index.image, "Image to index, oci:DIR[:REF] or docker://HOST/REPO[:TAG]")
      ->required();
  x->add_option("DEST", index.destination,
                "Where the index goes, oci:DIR[:REF] or docker://HOST/REPO[:TAG] (default: beside "
                "the image, TAG the image's + \"-feilong-index\"); elsewhere, the image is copied "
                "there too");
  x->add_option("--platform", index.platform,
                "OS/ARCH[/VARIANT] to take from a multi-platform image (default: this host's)");
  x->add_option("--chunk-size", index.chunk_size, "Chunk size, a power of two from 4KiB to 16MiB")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  x->add_option("--checkpoint-spacing", index.checkpoint_spacing,
                "Bytes of a compressed layer's tar stream between checkpoints (at least 32KiB)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  x->add_option("--prefetch", index.prefetch,
                "A path or glob pattern of files to read first at run time; repeatable, in order");
  x->add_option("--prefetch-file", index.prefetch_file,
                "File of prefetch paths or patterns, one per line (e.g. a recorded access trace)");
  x->add_option("--src-creds", index.source_creds, "USER:PASSWORD for the image's registry");
  x->add_option("--dest-creds", index.destination_creds,
                "USER:PASSWORD for DEST's registry, when it is another one");
  AddRegistryFlags(x, index.access);

  CLI11_PARSE(app, argc, argv);
  if (c->parsed()) {
    convert.progress = !no_progress && isatty(STDERR_FILENO);
    return feilong::cli::RunConvert(convert);
  }
  if (k->parsed()) {
    return feilong::cli::RunCheck(check);
  }
  if (i->parsed()) {
    return feilong::cli::RunInspect(inspect);
  }
  if (x->parsed()) {
    return feilong::cli::RunIndex(index);
  }
  return feilong::cli::RunUnpack(unpack);
}
