#include "access/grant.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "common/digest.h"

namespace feilong::access {

namespace {

constexpr std::string_view kVersion = "fg1";
constexpr size_t kPublicKeySize = 32;
constexpr size_t kSignatureSize = 64;

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

struct FileClose {
  void operator()(FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileClose>;

std::string SignedPart(const GrantClaims& claims) {
  return std::string(kVersion) + "|" + claims.task_id + "|" + std::to_string(claims.expires_unix) +
         "|" + claims.grantee_ip;
}

Result<std::string> RawPublicKey(EVP_PKEY* key) {
  std::string raw(kPublicKeySize, '\0');
  size_t size = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &size) != 1 ||
      size != kPublicKeySize) {
    return Status::Internal("grant key: cannot read the Ed25519 public key");
  }
  return raw;
}

// The 16-byte form of an IPv4 or IPv6 address (IPv4 as ::ffff:a.b.c.d), so
// "127.0.0.1" and "::ffff:127.0.0.1" compare equal.
std::optional<std::array<uint8_t, 16>> CanonicalAddress(std::string_view text) {
  std::string s(text);
  std::array<uint8_t, 16> out{};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

}  // namespace

struct GrantSigner::Key {
  PkeyPtr pkey;
};

GrantSigner::GrantSigner(std::unique_ptr<Key> key, std::string public_key)
    : key_(std::move(key)), public_key_(std::move(public_key)) {}

GrantSigner::~GrantSigner() = default;

Result<std::unique_ptr<GrantSigner>> GrantSigner::Generate() {
  PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!pkey) {
    return Status::Internal("grant key: Ed25519 key generation failed");
  }
  FL_ASSIGN_OR_RETURN(std::string raw, RawPublicKey(pkey.get()));
  auto key = std::make_unique<Key>();
  key->pkey = std::move(pkey);
  return std::unique_ptr<GrantSigner>(new GrantSigner(std::move(key), std::move(raw)));
}

Result<std::unique_ptr<GrantSigner>> GrantSigner::LoadOrCreate(const std::string& path) {
  FilePtr file(std::fopen(path.c_str(), "r"));
  if (!file) {
    if (errno != ENOENT) {
      return Status::IOError("grant key " + path + ": " + std::strerror(errno));
    }
    FL_ASSIGN_OR_RETURN(std::unique_ptr<GrantSigner> fresh, Generate());
    // O_EXCL: never replace a key another process wrote meanwhile.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      return Status::IOError("grant key " + path + ": cannot create: " + std::strerror(errno));
    }
    FilePtr out(fdopen(fd, "w"));
    if (!out) {
      ::close(fd);
      return Status::IOError("grant key " + path + ": " + std::strerror(errno));
    }
    if (PEM_write_PrivateKey(out.get(), fresh->key_->pkey.get(), nullptr, nullptr, 0, nullptr,
                             nullptr) != 1 ||
        std::fflush(out.get()) != 0 || ::fsync(fd) != 0) {
      out.reset();
      ::unlink(path.c_str());
      return Status::IOError("grant key " + path + ": cannot write");
    }
    return fresh;
  }
  PkeyPtr pkey(PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr));
  if (!pkey || EVP_PKEY_get_base_id(pkey.get()) != EVP_PKEY_ED25519) {
    return Status::InvalidArgument("grant key " + path +
                                   ": not an Ed25519 private key in PEM "
                                   "(make one with: openssl genpkey -algorithm ed25519)");
  }
  FL_ASSIGN_OR_RETURN(std::string raw, RawPublicKey(pkey.get()));
  auto key = std::make_unique<Key>();
  key->pkey = std::move(pkey);
  return std::unique_ptr<GrantSigner>(new GrantSigner(std::move(key), std::move(raw)));
}

std::string GrantSigner::Sign(const GrantClaims& claims) const {
  std::string message = SignedPart(claims);
  std::array<uint8_t, kSignatureSize> signature{};
  size_t size = signature.size();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  // Ed25519 signing with a valid key cannot fail short of memory exhaustion;
  // an unsigned token is then refused by every verifier.
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), signature.data(), &size,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return message + "|";
  }
  return message + "|" + HexEncode(signature);
}

Result<GrantClaims> VerifyGrant(std::string_view token, std::string_view public_key) {
  if (public_key.size() != kPublicKeySize) {
    return Status::InvalidArgument("grant: no valid verifying key");
  }
  size_t last = token.rfind('|');
  if (token.size() > 512 || last == std::string_view::npos) {
    return Status::InvalidArgument("grant: malformed");
  }
  std::string_view signed_part = token.substr(0, last);
  Result<std::string> signature = HexDecode(token.substr(last + 1));
  if (!signature.ok() || signature->size() != kSignatureSize) {
    return Status::InvalidArgument("grant: malformed signature");
  }
  std::vector<std::string_view> fields;
  for (size_t start = 0;;) {
    size_t bar = signed_part.find('|', start);
    fields.push_back(signed_part.substr(start, bar - start));
    if (bar == std::string_view::npos) {
      break;
    }
    start = bar + 1;
  }
  if (fields.size() != 4 || fields[0] != kVersion) {
    return Status::InvalidArgument("grant: malformed or of another version");
  }
  GrantClaims claims;
  claims.task_id = std::string(fields[1]);
  const char* first = fields[2].data();
  const char* end = first + fields[2].size();
  auto [ptr, ec] = std::from_chars(first, end, claims.expires_unix);
  if (ec != std::errc() || ptr != end || fields[2].empty()) {
    return Status::InvalidArgument("grant: malformed expiry");
  }
  claims.grantee_ip = std::string(fields[3]);

  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(public_key.data()),
      public_key.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!pkey || !ctx ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
    return Status::InvalidArgument("grant: no valid verifying key");
  }
  if (EVP_DigestVerify(
          ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()), signature->size(),
          reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) != 1) {
    return Status::PermissionDenied("grant: bad signature");
  }
  return claims;
}

Status CheckGrant(std::string_view token, std::string_view public_key, std::string_view task_id,
                  std::string_view remote_ip, int64_t now_unix) {
  if (token.empty()) {
    return Status::PermissionDenied("private task: a grant from the scheduler is required");
  }
  Result<GrantClaims> claims = VerifyGrant(token, public_key);
  if (!claims.ok()) {
    return Status::PermissionDenied(claims.status().message());
  }
  if (claims->task_id != task_id) {
    return Status::PermissionDenied("grant: for another task");
  }
  auto grantee = CanonicalAddress(claims->grantee_ip);
  auto remote = CanonicalAddress(remote_ip);
  if (!grantee || !remote || *grantee != *remote) {
    return Status::PermissionDenied("grant: for another address");
  }
  if (claims->expires_unix + kClockSkewSeconds < now_unix) {
    return Status::PermissionDenied("grant: expired");
  }
  return Status::Ok();
}

}  // namespace feilong::access
