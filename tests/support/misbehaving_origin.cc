#include "support/misbehaving_origin.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace feilong::test {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// The value of header `name` (lowercase) in a raw request head.
std::optional<std::string> HeaderValue(const std::string& head, std::string_view name) {
  size_t start = head.find("\r\n");
  while (start != std::string::npos && start + 2 < head.size()) {
    size_t line_start = start + 2;
    size_t end = head.find("\r\n", line_start);
    std::string_view line(head.data() + line_start,
                          (end == std::string::npos ? head.size() : end) - line_start);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && colon == name.size()) {
      bool same = true;
      for (size_t i = 0; i < colon; ++i) {
        same = same && Lower(line[i]) == name[i];
      }
      if (same) {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') {
          value.remove_prefix(1);
        }
        return std::string(value);
      }
    }
    start = end;
  }
  return std::nullopt;
}

struct Plan {
  std::string head;       // status line and headers, ending in an empty line
  std::string_view body;  // what an honest server would send
  size_t send = 0;        // body bytes actually sent
  bool close = false;
  bool stall = false;
};

}  // namespace

struct MisbehavingOrigin::Impl {
  explicit Impl(Options o) : options(std::move(o)) {}

  Plan Decide(const std::string& request, Behavior behavior) const;
  asio::awaitable<void> Accept();
  asio::awaitable<void> Serve(tcp::socket socket);

  const Options options;
  uint16_t port = 0;
  mutable std::mutex mutex;
  std::vector<std::string> requests;  // guarded by mutex
  std::atomic<size_t> connections{0};
  std::atomic<size_t> active_requests{0};
  std::atomic<size_t> max_active_requests{0};
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::jthread thread;
};

Plan MisbehavingOrigin::Impl::Decide(const std::string& request, Behavior behavior) const {
  using B = Behavior;
  Plan plan;
  const std::string& body = options.body;
  const uint64_t size = body.size();
  std::string status_line = "HTTP/1.1 200 OK";
  std::vector<std::string> headers;

  if (behavior == B::kFixedStatus) {
    status_line = "HTTP/1.1 " + std::to_string(options.status) + " Status";
    plan.body = "error\n";
    plan.close = true;
  } else if (behavior == B::kRedirect) {
    status_line = "HTTP/1.1 302 Found";
    headers.push_back("Location: " + options.redirect_to);
  } else {
    plan.body = body;
    std::optional<std::string> range = HeaderValue(request, "range");
    if (range.has_value() && behavior != B::kIgnoreRange && range->starts_with("bytes=")) {
      std::string spec = range->substr(6);
      size_t dash = spec.find('-');
      uint64_t first = std::stoull(spec.substr(0, dash));
      uint64_t last = (dash + 1 < spec.size()) ? std::stoull(spec.substr(dash + 1)) : UINT64_MAX;
      if (first >= size) {
        status_line = "HTTP/1.1 416 Range Not Satisfiable";
        headers.push_back("Content-Range: bytes */" + std::to_string(size));
        plan.body = {};
      } else {
        last = std::min(last, size - 1);
        status_line = "HTTP/1.1 206 Partial Content";
        headers.push_back("Content-Range: bytes " + std::to_string(first) + "-" +
                          std::to_string(last) + "/" + std::to_string(size));
        plan.body = std::string_view(body).substr(first, last - first + 1);
      }
    }
  }
  plan.send = plan.body.size();
  if (behavior == B::kShortBody) {
    uint64_t withhold = options.withhold == 0 ? (plan.body.size() + 1) / 2 : options.withhold;
    plan.send = plan.body.size() - std::min<uint64_t>(withhold, plan.body.size());
    plan.close = true;
  } else if (behavior == B::kStall) {
    plan.send = std::min<uint64_t>(options.stall_after, plan.body.size());
    plan.stall = true;
  }
  plan.head = status_line + "\r\nContent-Length: " + std::to_string(plan.body.size()) + "\r\n";
  for (const std::string& header : headers) {
    plan.head += header + "\r\n";
  }
  for (const std::string& header : options.extra_headers) {
    plan.head += header + "\r\n";
  }
  plan.head += plan.close ? "Connection: close\r\n\r\n" : "\r\n";
  return plan;
}

asio::awaitable<void> MisbehavingOrigin::Impl::Accept() {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kNoThrow);
    if (ec) {
      co_return;
    }
    ++connections;
    asio::co_spawn(io, Serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> MisbehavingOrigin::Impl::Serve(tcp::socket socket) {
  std::string buffer;
  for (;;) {
    auto [read_error, head_size] = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(buffer, 64 * 1024), "\r\n\r\n", kNoThrow);
    if (read_error) {
      co_return;
    }
    std::string request = buffer.substr(0, head_size);
    buffer.erase(0, head_size);
    size_t count = 0;
    {
      std::lock_guard<std::mutex> lock(mutex);
      requests.push_back(request);
      count = requests.size();
    }
    bool fail = options.fail_every != 0 && count % options.fail_every == 0;
    Plan plan = Decide(request, fail ? options.failure : options.behavior);
    bool is_head = request.starts_with("HEAD ");
    std::vector<asio::const_buffer> out{asio::buffer(plan.head)};
    if (!is_head) {
      out.push_back(asio::buffer(plan.body.data(), plan.send));
    }
    size_t active = ++active_requests;
    size_t seen = max_active_requests.load();
    while (active > seen && !max_active_requests.compare_exchange_weak(seen, active)) {
    }
    auto [write_error, written] = co_await asio::async_write(socket, out, kNoThrow);
    --active_requests;
    (void)written;
    if (write_error) {
      co_return;
    }
    if (plan.stall) {
      asio::steady_timer forever(io, std::chrono::hours(24));
      co_await forever.async_wait(kNoThrow);
      co_return;
    }
    if (plan.close) {
      boost::system::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      co_return;
    }
  }
}

MisbehavingOrigin::MisbehavingOrigin(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<MisbehavingOrigin>> MisbehavingOrigin::Start(Options options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  boost::system::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    impl->acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return Status::IOError("MisbehavingOrigin: " + ec.message());
  }
  impl->port = impl->acceptor.local_endpoint().port();
  asio::co_spawn(impl->io, impl->Accept(), asio::detached);
  Impl* raw = impl.get();
  impl->thread = std::jthread([raw] { raw->io.run(); });
  return std::unique_ptr<MisbehavingOrigin>(new MisbehavingOrigin(std::move(impl)));
}

MisbehavingOrigin::~MisbehavingOrigin() {
  impl_->io.stop();
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
}

uint16_t MisbehavingOrigin::port() const { return impl_->port; }

std::string MisbehavingOrigin::Url(std::string_view path_and_query) const {
  return "http://127.0.0.1:" + std::to_string(impl_->port) + std::string(path_and_query);
}

std::vector<std::string> MisbehavingOrigin::Requests() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->requests;
}

size_t MisbehavingOrigin::connections() const { return impl_->connections.load(); }

size_t MisbehavingOrigin::max_concurrent_requests() const {
  return impl_->max_active_requests.load();
}

}  // namespace feilong::test
