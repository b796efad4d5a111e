// Parsing of the request target of the piece server (daemon/PieceServer):
// what a peer asks for, decided before the store is touched. Shared by the
// server and tests/fuzz/piece_request_fuzz.cc.
//
// Thread rule: free functions on values; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace feilong::daemon {

// The piece a request target names: "/pieces/<task_id>/<number>".
struct PieceTarget {
  std::string task_id;  // 64 lowercase hex characters
  uint32_t number = 0;
};

// Parses a request target (the query, "?..." to the end, is ignored):
//   "/pieces/<task_id>/<number>"  the piece; task_id is 64 lowercase hex
//                                 characters, number a decimal uint32
//   another path under /pieces/   InvalidArgument (the server answers 400)
//   a target not starting with '/' or containing ".."
//                                 InvalidArgument (400, "malformed path")
//   any other path                NotFound (404, "no such resource")
// The message is the text the server sends back.
Result<PieceTarget> ParsePieceTarget(std::string_view target);

// Parses a piece number: 1 to 10 decimal digits, no sign, at most
// UINT32_MAX. False (and `out` unchanged) otherwise.
bool ParsePieceNumber(std::string_view text, uint32_t* out);

}  // namespace feilong::daemon
