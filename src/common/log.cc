#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <memory>
#include <string>

namespace feilong {

namespace {

bool ParseLevel(std::string_view name, spdlog::level::level_enum& level) {
  struct Entry {
    std::string_view name;
    spdlog::level::level_enum level;
  };
  static constexpr Entry kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"off", spdlog::level::off},
  };
  for (const Entry& e : kLevels) {
    if (e.name == name) {
      level = e.level;
      return true;
    }
  }
  return false;
}

}  // namespace

Status InitLogging(std::string_view level) {
  spdlog::level::level_enum parsed = spdlog::level::info;
  if (!ParseLevel(level, parsed)) {
    return Status::InvalidArgument(
        "log level must be one of trace, debug, info, warn, error, "
        "off; got '" +
        std::string(level) + "'");
  }
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("feilong", std::move(sink));
  logger->set_pattern(std::string(kLogPattern));
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return Status::Ok();
}

}  // namespace feilong
