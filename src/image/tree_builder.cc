#include "image/tree_builder.h"

#include <sys/stat.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <unordered_map>

namespace feilong::image {

namespace {

constexpr uint32_t kPermissionBits = 07777;
constexpr uint32_t kImplicitDirectoryMode = S_IFDIR | 0755;

// The components of `path`, without "", "." and the slashes.
Result<std::vector<std::string_view>> Components(std::string_view path) {
  std::vector<std::string_view> parts;
  if (path.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("path \"" + std::string(path.substr(0, path.find('\0'))) +
                                   "...\" contains a NUL byte");
  }
  size_t at = 0;
  while (at <= path.size()) {
    size_t slash = path.find('/', at);
    std::string_view part =
        path.substr(at, slash == std::string_view::npos ? path.size() - at : slash - at);
    if (part == "..") {
      return Status::InvalidArgument("path \"" + std::string(path) + "\" leaves the image root");
    }
    if (part.size() > kMaxNameLength) {
      return Status::InvalidArgument("path \"" + std::string(path) + "\": a name over " +
                                     std::to_string(kMaxNameLength) + " bytes");
    }
    if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    if (slash == std::string_view::npos) {
      break;
    }
    at = slash + 1;
  }
  return parts;
}

Status CheckAttributes(std::string_view path, const Attributes& attributes) {
  std::vector<std::string_view> keys;
  for (const auto& [key, value] : attributes.xattrs) {
    keys.push_back(key);
  }
  std::sort(keys.begin(), keys.end());
  if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) {
    return Status::InvalidArgument("entry \"" + std::string(path) +
                                   "\": an extended attribute given twice");
  }
  for (const auto& [key, value] : attributes.xattrs) {
    if (key.empty() || key.size() > kMaxXattrKeyLength || value.size() > kMaxXattrValueLength) {
      return Status::InvalidArgument("entry \"" + std::string(path) +
                                     "\": an extended attribute key is empty or over 255 bytes, "
                                     "or its value over 64 KiB");
    }
  }
  return Status::Ok();
}

}  // namespace

struct TreeBuilder::Inode {
  uint32_t type = 0;  // S_IFMT bits
  Attributes attributes;
  uint64_t size = 0;
  uint64_t rdev = 0;
  std::vector<uint32_t> chunks;
  std::string symlink_target;
};

struct TreeBuilder::Node {
  std::shared_ptr<Inode> inode;
  uint32_t layer = 0;
  std::map<std::string, std::unique_ptr<Node>, std::less<>> children;  // directories only

  bool IsDirectory() const { return inode->type == S_IFDIR; }
};

TreeBuilder::TreeBuilder(uint32_t chunk_size) : chunk_size_(chunk_size), root_(new Node) {
  root_->inode = std::make_shared<Inode>();
  root_->inode->type = S_IFDIR;
  root_->inode->attributes.mode = 0755;
}

TreeBuilder::~TreeBuilder() = default;

void TreeBuilder::BeginLayer() {
  FinishLayer();
  ++layer_;
}

void TreeBuilder::FinishLayer() {
  for (const std::string& path : opaque_) {
    Node* dir = path.empty() ? root_.get() : Find(path);
    if (dir == nullptr || !dir->IsDirectory()) {
      continue;
    }
    // Lower layers' entries go; this layer's directories lose theirs too.
    std::function<void(Node&)> prune = [&](Node& node) {
      for (auto it = node.children.begin(); it != node.children.end();) {
        if (it->second->layer < layer_) {
          it = node.children.erase(it);
          continue;
        }
        if (it->second->IsDirectory()) {
          prune(*it->second);
        }
        ++it;
      }
    };
    prune(*dir);
  }
  opaque_.clear();
}

Result<TreeBuilder::Node*> TreeBuilder::Parent(std::string_view path, bool create,
                                               std::string* name) {
  FL_ASSIGN_OR_RETURN(std::vector<std::string_view> parts, Components(path));
  if (parts.empty()) {
    return Status::InvalidArgument("path \"" + std::string(path) + "\" names the image root");
  }
  Node* dir = root_.get();
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    auto it = dir->children.find(parts[i]);
    if (it == dir->children.end()) {
      if (!create) {
        return nullptr;
      }
      auto made = std::make_unique<Node>();
      made->inode = std::make_shared<Inode>();
      made->inode->type = S_IFDIR;
      made->inode->attributes.mode = kImplicitDirectoryMode & kPermissionBits;
      made->layer = layer_;
      it = dir->children.emplace(std::string(parts[i]), std::move(made)).first;
    } else if (!it->second->IsDirectory()) {
      if (!create) {
        return nullptr;
      }
      return Status::InvalidArgument("path \"" + std::string(path) + "\": \"" +
                                     std::string(parts[i]) + "\" is not a directory");
    }
    dir = it->second.get();
  }
  *name = std::string(parts.back());
  return dir;
}

TreeBuilder::Node* TreeBuilder::Find(std::string_view path) {
  std::string name;
  Result<Node*> parent = Parent(path, false, &name);
  if (!parent.ok() || *parent == nullptr) {
    return nullptr;
  }
  auto it = (*parent)->children.find(name);
  return it == (*parent)->children.end() ? nullptr : it->second.get();
}

Status TreeBuilder::Place(std::string_view path, std::shared_ptr<Inode> inode) {
  FL_RETURN_IF_ERROR(CheckAttributes(path, inode->attributes));
  std::string name;
  FL_ASSIGN_OR_RETURN(Node * parent, Parent(path, true, &name));
  std::unique_ptr<Node>& slot = parent->children[name];
  if (slot != nullptr && slot->IsDirectory() && inode->type == S_IFDIR) {
    slot->inode = std::move(inode);  // a directory again: its entries stay
    slot->layer = layer_;
    return Status::Ok();
  }
  slot = std::make_unique<Node>();
  slot->inode = std::move(inode);
  slot->layer = layer_;
  return Status::Ok();
}

Status TreeBuilder::SetRootAttributes(const Attributes& attributes) {
  FL_RETURN_IF_ERROR(CheckAttributes("/", attributes));
  root_->inode->attributes = attributes;
  root_->inode->attributes.mode &= kPermissionBits;
  return Status::Ok();
}

Status TreeBuilder::AddDirectory(std::string_view path, const Attributes& attributes) {
  FL_ASSIGN_OR_RETURN(std::vector<std::string_view> parts, Components(path));
  if (parts.empty()) {
    return SetRootAttributes(attributes);  // "./" in a tar
  }
  auto inode = std::make_shared<Inode>();
  inode->type = S_IFDIR;
  inode->attributes = attributes;
  inode->attributes.mode &= kPermissionBits;
  return Place(path, std::move(inode));
}

Status TreeBuilder::AddRegular(std::string_view path, const Attributes& attributes, uint64_t size,
                               std::vector<uint32_t> chunks) {
  const uint64_t want = size / chunk_size_ + (size % chunk_size_ != 0);  // no overflow near 2^64
  if (chunks.size() != want) {
    return Status::InvalidArgument("file \"" + std::string(path) +
                                   "\": " + std::to_string(chunks.size()) + " chunks for " +
                                   std::to_string(size) + " bytes");
  }
  for (size_t k = 0; k < chunks.size(); ++k) {
    const uint64_t expected = std::min<uint64_t>(chunk_size_, size - k * chunk_size_);
    if (chunks[k] >= chunks_.size() || chunks_[chunks[k]].uncompressed_size != expected) {
      return Status::InvalidArgument("file \"" + std::string(path) + "\": chunk " +
                                     std::to_string(k) + " is unknown or not " +
                                     std::to_string(expected) + " bytes");
    }
  }
  auto inode = std::make_shared<Inode>();
  inode->type = S_IFREG;
  inode->attributes = attributes;
  inode->attributes.mode &= kPermissionBits;
  inode->size = size;
  inode->chunks = std::move(chunks);
  return Place(path, std::move(inode));
}

Status TreeBuilder::AddSymlink(std::string_view path, const Attributes& attributes,
                               std::string_view target) {
  if (target.empty() || target.size() > kMaxSymlinkLength) {
    return Status::InvalidArgument("symlink \"" + std::string(path) + "\": target of " +
                                   std::to_string(target.size()) + " bytes");
  }
  auto inode = std::make_shared<Inode>();
  inode->type = S_IFLNK;
  inode->attributes = attributes;
  inode->attributes.mode &= kPermissionBits;
  inode->size = target.size();
  inode->symlink_target = std::string(target);
  return Place(path, std::move(inode));
}

Status TreeBuilder::AddSpecial(std::string_view path, uint32_t type, const Attributes& attributes,
                               uint64_t rdev) {
  if (type != S_IFCHR && type != S_IFBLK && type != S_IFIFO && type != S_IFSOCK) {
    return Status::InvalidArgument("entry \"" + std::string(path) + "\": not a special file type");
  }
  auto inode = std::make_shared<Inode>();
  inode->type = type;
  inode->attributes = attributes;
  inode->attributes.mode &= kPermissionBits;
  inode->rdev = (type == S_IFCHR || type == S_IFBLK) ? rdev : 0;
  return Place(path, std::move(inode));
}

Status TreeBuilder::AddHardLink(std::string_view path, std::string_view target) {
  FL_RETURN_IF_ERROR(Components(target).status());
  Node* existing = Find(target);
  if (existing == nullptr) {
    return Status::NotFound("hard link \"" + std::string(path) + "\": no \"" + std::string(target) +
                            "\" to link to");
  }
  if (existing->IsDirectory()) {
    return Status::InvalidArgument("hard link \"" + std::string(path) + "\": \"" +
                                   std::string(target) + "\" is a directory");
  }
  return Place(path, existing->inode);
}

Status TreeBuilder::Remove(std::string_view path) {
  std::string name;
  FL_ASSIGN_OR_RETURN(Node * parent, Parent(path, false, &name));
  if (parent == nullptr) {
    return Status::Ok();
  }
  auto it = parent->children.find(name);
  if (it != parent->children.end() && it->second->layer < layer_) {
    parent->children.erase(it);
  }
  return Status::Ok();
}

Status TreeBuilder::MakeOpaque(std::string_view path) {
  FL_ASSIGN_OR_RETURN(std::vector<std::string_view> parts, Components(path));
  std::string joined;
  for (std::string_view part : parts) {
    joined += (joined.empty() ? "" : "/") + std::string(part);
  }
  opaque_.push_back(std::move(joined));
  return Status::Ok();
}

uint32_t TreeBuilder::AddBlob(const BlobRecord& blob) {
  blobs_.push_back(blob);
  return static_cast<uint32_t>(blobs_.size() - 1);
}

Status TreeBuilder::SetBlob(uint32_t index, const BlobRecord& blob) {
  if (index >= blobs_.size()) {
    return Status::InvalidArgument("no blob " + std::to_string(index) + " of " +
                                   std::to_string(blobs_.size()));
  }
  blobs_[index] = blob;
  return Status::Ok();
}

Result<uint32_t> TreeBuilder::AddChunk(const ChunkRecord& chunk) {
  if (chunk.blob_index >= blobs_.size()) {
    return Status::InvalidArgument("chunk names blob " + std::to_string(chunk.blob_index) + " of " +
                                   std::to_string(blobs_.size()));
  }
  if (chunk.uncompressed_size == 0 || chunk.uncompressed_size > chunk_size_ ||
      chunk.compressed_size == 0 ||
      (chunk.compression == Compression::kNone &&
       chunk.compressed_size != chunk.uncompressed_size)) {
    return Status::InvalidArgument("chunk of " + std::to_string(chunk.uncompressed_size) +
                                   " bytes (" + std::to_string(chunk.compressed_size) +
                                   " stored) does not fit the chunk size");
  }
  chunks_.push_back(chunk);
  return static_cast<uint32_t>(chunks_.size() - 1);
}

void TreeBuilder::AddPrefetch(std::string_view path) { prefetch_.emplace_back(path); }

Result<Metadata> TreeBuilder::Build() {
  FinishLayer();
  for (size_t i = 0; i < chunks_.size(); ++i) {
    const ChunkRecord& c = chunks_[i];
    if (!OffsetsInBlobBytes(blobs_[c.blob_index].kind)) {
      continue;  // an offset in a compressed layer's tar stream
    }
    const uint64_t blob_size = blobs_[c.blob_index].size;
    if (c.compressed_offset > blob_size || c.compressed_size > blob_size - c.compressed_offset) {
      return Status::InvalidArgument("chunk " + std::to_string(i) + " ends past the " +
                                     std::to_string(blob_size) + " bytes of blob " +
                                     std::to_string(c.blob_index));
    }
  }
  Metadata m;
  m.chunk_size = chunk_size_;
  m.blobs = blobs_;
  m.chunks = chunks_;

  std::unordered_map<std::string, uint32_t> interned;
  auto intern = [&](const std::string& text) -> uint32_t {
    auto [it, added] = interned.emplace(text, static_cast<uint32_t>(m.strings.size()));
    if (added) {
      m.strings += text;
    }
    return it->second;
  };

  // Names per inode (hard links) and subdirectories per directory.
  std::unordered_map<const Inode*, uint32_t> names;
  std::function<void(const Node&)> count = [&](const Node& node) {
    for (const auto& [name, child] : node.children) {
      ++names[child->inode.get()];
      if (child->IsDirectory()) {
        count(*child);
      }
    }
  };
  count(*root_);

  std::unordered_map<const Inode*, uint32_t> numbers;
  auto number = [&](const Node& node) -> uint32_t {
    auto [it, added] = numbers.emplace(node.inode.get(), static_cast<uint32_t>(m.inodes.size()));
    if (!added) {
      return it->second;
    }
    const Inode& in = *node.inode;
    InodeRecord r;
    r.mode = in.type | (in.attributes.mode & kPermissionBits);
    r.uid = in.attributes.uid;
    r.gid = in.attributes.gid;
    r.mtime_sec = in.attributes.mtime_sec;
    r.mtime_nsec = in.attributes.mtime_nsec;
    r.size = in.size;
    r.rdev = in.rdev;
    if (in.type == S_IFDIR) {
      r.nlink = 2 + static_cast<uint32_t>(std::count_if(
                        node.children.begin(), node.children.end(),
                        [](const auto& entry) { return entry.second->IsDirectory(); }));
    } else {
      r.nlink = names[&in];
    }
    if (in.type == S_IFREG) {
      r.first = static_cast<uint32_t>(m.file_chunks.size());
      r.count = static_cast<uint32_t>(in.chunks.size());
      m.file_chunks.insert(m.file_chunks.end(), in.chunks.begin(), in.chunks.end());
    } else if (in.type == S_IFLNK) {
      r.first = intern(in.symlink_target);
    }
    std::vector<std::pair<std::string, std::string>> xattrs = in.attributes.xattrs;
    std::sort(xattrs.begin(), xattrs.end());
    r.xattr_first = static_cast<uint32_t>(m.xattrs.size());
    r.xattr_count = static_cast<uint32_t>(xattrs.size());
    for (const auto& [key, value] : xattrs) {
      XattrRecord x;
      x.key_offset = intern(key);
      x.key_length = static_cast<uint16_t>(key.size());
      x.value_offset = intern(value);
      x.value_length = static_cast<uint32_t>(value.size());
      m.xattrs.push_back(x);
    }
    m.inodes.push_back(r);
    return it->second;
  };

  // Breadth first: each directory's entries are one run of dirents.
  number(*root_);
  std::deque<std::pair<const Node*, uint32_t>> pending{{root_.get(), 0}};
  while (!pending.empty()) {
    auto [dir, inode] = pending.front();
    pending.pop_front();
    m.inodes[inode].first = static_cast<uint32_t>(m.dirents.size());
    m.inodes[inode].count = static_cast<uint32_t>(dir->children.size());
    const size_t first = m.dirents.size();
    m.dirents.resize(first + dir->children.size());
    size_t k = first;
    for (const auto& [name, child] : dir->children) {
      const uint32_t child_inode = number(*child);
      m.dirents[k++] = DirentRecord{intern(name), static_cast<uint16_t>(name.size()), child_inode};
      if (child->IsDirectory()) {
        pending.emplace_back(child.get(), child_inode);
      }
    }
  }

  if (m.strings.size() > std::numeric_limits<uint32_t>::max()) {
    return Status::ResourceExhausted("image metadata: names and xattrs exceed 4 GiB");
  }
  for (const std::string& path : prefetch_) {
    FL_ASSIGN_OR_RETURN(uint32_t inode, m.Lookup(path));
    m.prefetch.push_back(inode);
  }
  return m;
}

}  // namespace feilong::image
