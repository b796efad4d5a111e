// Fuzzes what a peer sends to the piece server (daemon/PieceServer): the
// bytes go through the same Boost.Beast request parser with the server's
// 8 KiB header limit, and the target of a parsed request through
// ParsePieceTarget (daemon/piece_request.h). The whole input is also parsed
// as a target on its own.
//
// Invariants checked besides "no crash, no sanitizer report":
//   - an accepted target names a well-formed task id and, formatted back as
//     "/pieces/<task_id>/<number>", parses to the same piece;
//   - a rejected target is InvalidArgument (400) or NotFound (404), never
//     another code, and NotFound only for a path outside /pieces/.
#include <boost/beast/core/buffers_prefix.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/task_id.h"
#include "daemon/piece_request.h"
#include "fuzz/fuzz_check.h"
#include "source/url.h"

namespace http = boost::beast::http;
using feilong::Result;
using feilong::daemon::ParsePieceTarget;
using feilong::daemon::PieceTarget;

namespace {

void CheckTarget(std::string_view target) {
  Result<PieceTarget> parsed = ParsePieceTarget(target);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().IsInvalidArgument() || parsed.status().IsNotFound(),
               parsed.status().ToString());
    FUZZ_CHECK(!parsed.status().IsNotFound() || !target.starts_with("/pieces/"),
               "404 for a /pieces/ target: " << target);
    return;
  }
  FUZZ_CHECK(target.starts_with("/pieces/"), "accepted: " << target);
  FUZZ_CHECK(feilong::IsValidTaskId(parsed->task_id), "task id: " << parsed->task_id);
  std::string formatted = "/pieces/" + parsed->task_id + "/" + std::to_string(parsed->number);
  Result<PieceTarget> again = ParsePieceTarget(formatted);
  FUZZ_CHECK(again.ok() && again->task_id == parsed->task_id && again->number == parsed->number,
             "round trip: '" << target << "' -> '" << formatted << "'");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckTarget(input);

  // As PieceServer::Impl::Serve reads a request head.
  http::request_parser<http::empty_body> parser;
  parser.header_limit(8 * 1024);
  boost::system::error_code ec;
  size_t offset = 0;
  while (offset < size && !parser.is_header_done()) {
    size_t used = parser.put(boost::asio::buffer(data + offset, size - offset), ec);
    if (ec == http::error::need_more) {
      break;
    }
    if (ec) {
      return 0;
    }
    if (used == 0) {
      break;
    }
    offset += used;
  }
  if (!parser.is_header_done()) {
    return 0;
  }
  const auto& request = parser.get();
  CheckTarget(std::string_view(request.target().data(), request.target().size()));
  return 0;
}
