// IoLoop: one Boost.Asio io_context run by a fixed number of threads, and
// the strands and timers of everything that lives on it (see strand.h).
// The number of threads is fixed at construction: it does not grow with the
// work put on the loop. Asio stays out of this header, so including it is
// cheap.
//
// Thread rule: thread-safe. Stop (also run by the destructor) stops the
// threads and joins them; handlers still queued may be destroyed without
// running. REQUIRES:
// Stop is not called from a handler (a loop thread cannot join itself).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/strand.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace feilong {

class IoLoop final : public StrandFactory {
 public:
  // `threads` 0 means one per core. `name` names the threads (ps, top).
  explicit IoLoop(uint32_t threads, std::string name = "fl-loop");
  ~IoLoop() override;
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  std::unique_ptr<Strand> NewStrand() override;
  uint32_t threads() const;
  // The loop itself, for code that watches sockets on it (source/curl_multi).
  boost::asio::io_context& context();
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace feilong
