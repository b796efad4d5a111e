// Grants: the scheduler's signed, short-lived permission for one host to
// fetch the pieces of one private task from other peers.
//
// A task downloaded with credentials is private (private_request.h). Its
// scheduler hands a grant to each peer of the task that proved it may read
// the content at the origin with its own credentials; the peer presents it
// to parents (HTTP header "X-Feilong-Grant", the `grant` field of
// SyncPieces), and a parent serves a private task's pieces only against a
// grant that its scheduler signed, for that task, for the asking address,
// not expired.
//
// Token (ASCII, fits an HTTP header):
//
//   fg1|<task id>|<expires, unix seconds>|<grantee ip>|<Ed25519 signature, hex>
//
// signed over everything before the last '|'. The verifying key is the
// scheduler's 32-byte Ed25519 public key, which a peer learns from the
// scheduler's decisions for the task and keeps with the task in its store.
//
// Thread rule: a GrantSigner is immutable after creation and thread-safe;
// the free functions are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace feilong::access {

// HTTP request header carrying a grant to a piece server.
inline constexpr std::string_view kGrantHeader = "X-Feilong-Grant";

// Clocks of hosts differ: a grant is still taken this long after it expired.
inline constexpr int64_t kClockSkewSeconds = 60;

struct GrantClaims {
  std::string task_id;  // 64 lowercase hex
  int64_t expires_unix = 0;
  std::string grantee_ip;  // the address the grantee connects from, as text
};

class GrantSigner {
 public:
  // A signer with a fresh random key (lost when the process ends).
  static Result<std::unique_ptr<GrantSigner>> Generate();
  // The key in the PEM file at `path` (PKCS#8 Ed25519, as `openssl genpkey
  // -algorithm ed25519` writes it); when the file does not exist, a new key
  // is written there (mode 0600) first. InvalidArgument for a file that is
  // not an Ed25519 private key, IOError naming the path otherwise.
  static Result<std::unique_ptr<GrantSigner>> LoadOrCreate(const std::string& path);

  ~GrantSigner();
  GrantSigner(const GrantSigner&) = delete;
  GrantSigner& operator=(const GrantSigner&) = delete;

  // The token for `claims`. REQUIRES: the fields contain no '|'.
  std::string Sign(const GrantClaims& claims) const;
  // The 32-byte public key that verifies this signer's tokens.
  const std::string& public_key() const { return public_key_; }

 private:
  struct Key;
  GrantSigner(std::unique_ptr<Key> key, std::string public_key);
  std::unique_ptr<Key> key_;
  std::string public_key_;
};

// The claims of `token` if it is well formed and signed by `public_key`.
// InvalidArgument for a malformed token or key; PermissionDenied for a
// signature that does not verify. Never reveals anything but the reason.
Result<GrantClaims> VerifyGrant(std::string_view token, std::string_view public_key);

// Whether `token` lets `remote_ip` read `task_id` at `now_unix`: verified by
// `public_key`, for that task and address, and not expired (allowing
// kClockSkewSeconds). PermissionDenied with the reason otherwise; an empty
// key (the scheduler's key is not known yet) refuses every token.
Status CheckGrant(std::string_view token, std::string_view public_key, std::string_view task_id,
                  std::string_view remote_ip, int64_t now_unix);

}  // namespace feilong::access
