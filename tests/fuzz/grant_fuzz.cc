// Fuzzes grant tokens (access/grant.h): a piece server reads them from any
// host that connects, in the X-Feilong-Grant header.
//
// Input: the token. Invariants besides "no crash, no sanitizer report":
//   - VerifyGrant answers OK, InvalidArgument or PermissionDenied;
//   - a token that verifies is exactly what the signer makes of its claims
//     (up to the case of the signature's hex): nothing else is accepted;
//   - CheckGrant never accepts what VerifyGrant rejects, nor a token for
//     another task or address.
#include <cstddef>
#include <cstdint>
#include <string>

#include "access/grant.h"
#include "common/ascii.h"
#include "fuzz/fuzz_check.h"

using feilong::StatusCode;
using namespace feilong::access;  // NOLINT(google-build-using-namespace): one target

namespace {

const GrantSigner& Signer() {
  static const std::unique_ptr<GrantSigner> signer = GrantSigner::Generate().value();
  return *signer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string token(reinterpret_cast<const char*>(data), size);
  const GrantSigner& signer = Signer();
  auto verified = VerifyGrant(token, signer.public_key());
  StatusCode code = verified.ok() ? StatusCode::kOk : verified.status().code();
  FUZZ_CHECK(code == StatusCode::kOk || code == StatusCode::kInvalidArgument ||
                 code == StatusCode::kPermissionDenied,
             verified.status().ToString());
  if (verified.ok()) {
    std::string again = signer.Sign(*verified);
    FUZZ_CHECK(feilong::AsciiLowercase(again) == feilong::AsciiLowercase(token), token);
  }
  const std::string task = verified.ok() ? verified->task_id : std::string(64, 'a');
  const std::string ip = verified.ok() ? verified->grantee_ip : std::string("10.0.0.1");
  bool checked = CheckGrant(token, signer.public_key(), task, ip, 0).ok();
  FUZZ_CHECK(!checked || verified.ok(), token);
  FUZZ_CHECK(!CheckGrant(token, signer.public_key(), task + "x", ip, 0).ok(), token);
  return 0;
}
