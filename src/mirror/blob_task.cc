#include "mirror/blob_task.h"

#include "common/digest.h"

namespace feilong::mirror {

std::string BlobTaskId(std::string_view digest_hex) {
  std::string material("oci-blob");
  material.push_back('\0');
  material += "sha256:";
  material += digest_hex;
  return HexEncode(Sha256(std::string_view(material)));
}

}  // namespace feilong::mirror
