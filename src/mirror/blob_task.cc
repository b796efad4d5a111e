#include "mirror/blob_task.h"

#include "source/url.h"

namespace feilong::mirror {

std::string BlobTaskId(std::string_view digest_hex) { return source::ContentTaskId(digest_hex, 0); }

}  // namespace feilong::mirror
