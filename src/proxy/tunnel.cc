#include "proxy/tunnel.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <vector>

namespace feilong::proxy {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr size_t kChunk = 64 * 1024;

// Shared by the two pumps and the watchdog (all on one strand: no lock).
struct Activity {
  Clock::time_point last = Clock::now();
};

asio::awaitable<void> Pump(tcp::socket& from, tcp::socket& to, Activity& activity,
                           uint64_t& count) {
  std::vector<char> buffer(kChunk);
  boost::system::error_code ignored;
  for (;;) {
    auto [read_error, n] = co_await from.async_read_some(asio::buffer(buffer), kNoThrow);
    if (read_error == asio::error::eof) {
      // Half close: the other side learns no more bytes come this way, and
      // may still answer (e.g. a client that shut down its sending side).
      to.shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    if (read_error) {
      break;
    }
    auto [write_error, written] =
        co_await asio::async_write(to, asio::buffer(buffer.data(), n), kNoThrow);
    if (write_error) {
      break;
    }
    count += written;
    activity.last = Clock::now();
  }
  // A reset or failure ends the tunnel both ways: the other pump's pending
  // read returns at once instead of waiting for the idle timeout.
  from.shutdown(tcp::socket::shutdown_both, ignored);
  to.shutdown(tcp::socket::shutdown_both, ignored);
}

// Returns when the tunnel was idle for `idle` (or when cancelled because
// both pumps ended).
asio::awaitable<void> Watchdog(const Activity& activity, std::chrono::milliseconds idle) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    const auto quiet = Clock::now() - activity.last;
    if (quiet >= idle) {
      co_return;
    }
    timer.expires_after(idle - quiet);
    auto [ec] = co_await timer.async_wait(kNoThrow);
    if (ec) {
      co_return;
    }
  }
}

}  // namespace

asio::awaitable<TunnelBytes> RunTunnel(tcp::socket& client, tcp::socket& origin,
                                       std::chrono::milliseconds idle) {
  using namespace asio::experimental::awaitable_operators;
  TunnelBytes bytes;
  Activity activity;
  // Both pumps, or the watchdog, whichever ends first; the loser is
  // cancelled (pending reads and writes complete with operation_aborted).
  auto both = Pump(client, origin, activity, bytes.to_origin) &&
              Pump(origin, client, activity, bytes.to_client);
  auto race = std::move(both) || Watchdog(activity, idle);
  co_await std::move(race);
  co_return bytes;
}

}  // namespace feilong::proxy
