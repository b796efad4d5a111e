// Logging: spdlog's default logger, configured once per process.
//
// Convention: a message is an event name followed by key=value fields,
// written with spdlog's fmt API so nothing is formatted below the level:
//
//   spdlog::info("piece_stored task={} piece={} bytes={}", task_id, index, n);
//   spdlog::warn("parent_blocked task={} parent={} reason=\"{}\"", t, p, s.message());
//
// Event names and keys are snake_case; values with spaces are quoted. One
// line per event; `info` is for events an operator wants by default (a few
// per download), per-piece detail goes to `debug`.
//
// Output goes to stderr as
//   2024-05-01T12:00:00.123 info piece_stored task=ab12 piece=3 bytes=4194304
// (local time; the level is coloured when stderr is a terminal).
//
// Thread rule: InitLogging is meant for main() before other threads log;
// logging itself is thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

#include "common/status.h"

namespace feilong {

// The line format used by InitLogging (spdlog pattern syntax).
inline constexpr std::string_view kLogPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v";

// Makes spdlog's default logger write to stderr with kLogPattern at `level`:
// one of trace, debug, info, warn, error, off. InvalidArgument naming the
// level otherwise (the logger is then left as it was). May be called again
// to change the level.
Status InitLogging(std::string_view level);

}  // namespace feilong
