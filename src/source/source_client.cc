#include "source/source_client.h"

#include "source/http_source.h"
#include "source/url.h"

namespace feilong::source {

Status ValidateSourceUrl(std::string_view url) {
  FL_ASSIGN_OR_RETURN(ParsedUrl parsed, ParseUrl(url));
  if (parsed.scheme != "http" && parsed.scheme != "https") {
    return Status::InvalidArgument("unsupported URL scheme '" + parsed.scheme + "' in '" +
                                   RedactUrl(url) + "'");
  }
  return Status::Ok();
}

Result<std::unique_ptr<SourceClient>> NewSourceClient(std::string_view url,
                                                      const SourceClientOptions& options) {
  FL_RETURN_IF_ERROR(ValidateSourceUrl(url));
  HttpSourceOptions http;
  http.ca_file = options.ca_file;
  http.origin_policy = options.origin_policy;
  return std::unique_ptr<SourceClient>(std::make_unique<HttpSource>(http));
}

}  // namespace feilong::source
