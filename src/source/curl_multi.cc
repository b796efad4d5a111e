#include "source/curl_multi.h"

#include <poll.h>

#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cstdlib>
#include <future>
#include <map>
#include <optional>
#include <vector>

#include "common/io_loop.h"
#include "source/curl_exchange.h"

namespace feilong::source {

namespace asio = boost::asio;

namespace {

using AsioStrand = asio::strand<asio::io_context::executor_type>;

// Easy handles kept for reuse once their transfer ended.
constexpr size_t kSpareHandles = 64;
// Times libcurl is handed a socket that is still readable after it read,
// before waiting for the loop again.
constexpr int kMaxRereads = 16;

// The loop's epoll is edge-triggered: bytes libcurl left in the socket
// raise no new event, so whether any are left is asked directly.
bool Readable(curl_socket_t fd) {
  pollfd entry{fd, POLLIN, 0};
  return ::poll(&entry, 1, 0) == 1 && (entry.revents & POLLIN) != 0;
}

CurlOutcome Refused(const char* why) {
  CurlOutcome outcome;
  outcome.curl_code = CURLE_ABORTED_BY_CALLBACK;
  outcome.callback_status = Status::Cancelled(why);
  return outcome;
}

}  // namespace

class CurlMulti::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& context, CurlMultiOptions options, Clock& clock)
      : context_(context),
        strand_(asio::make_strand(context)),
        curl_timer_(strand_),
        stall_timer_(strand_),
        options_(options),
        clock_(clock) {
    EnsureCurlGlobalInit();
    multi_ = curl_multi_init();
    if (multi_ == nullptr) {
      std::abort();  // out of memory at start-up
    }
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Impl::OnSocket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Impl::OnTimer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, options_.max_idle_connections);
  }

  ~Impl() { Shutdown(); }

  void Start(CurlRequest request, CurlHeadCallback on_head, CurlBodyCallback on_body, Done done) {
    if (stopping_.load()) {
      // Not posted: a loop stopping right after Stop would drop it unrun.
      done(Refused("transfers are stopping"));
      return;
    }
    running_.fetch_add(1);
    auto transfer = std::make_unique<Transfer>(std::move(request), std::move(on_head),
                                               std::move(on_body), std::move(done));
    asio::post(strand_, [self = shared_from_this(), transfer = std::move(transfer)]() mutable {
      self->Add(std::move(transfer));
    });
  }

  void Stop() {
    stopping_.store(true);
    std::promise<void> stopped;
    auto finished = stopped.get_future();
    if (context_.stopped()) {
      Shutdown();  // no loop thread can run a handler any more
      return;
    }
    asio::post(strand_, [self = shared_from_this(), &stopped] {
      self->Shutdown();
      stopped.set_value();
    });
    finished.wait();
  }

  size_t running() const { return running_.load(); }

 private:
  struct Transfer {
    Transfer(CurlRequest r, CurlHeadCallback h, CurlBodyCallback b, Done d)
        : request(std::move(r)), on_head(std::move(h)), on_body(std::move(b)), done(std::move(d)) {}
    CurlRequest request;
    CurlHeadCallback on_head;
    CurlBodyCallback on_body;
    Done done;
    std::unique_ptr<CurlExchange> exchange;
    CURL* easy = nullptr;
  };

  // One socket libcurl asked to watch.
  struct Watch {
    explicit Watch(const AsioStrand& strand) : descriptor(strand) {}
    asio::posix::stream_descriptor descriptor;
    int wanted = 0;  // CURL_POLL_IN / OUT / INOUT
    bool reading = false;
    bool writing = false;
  };

  // On the strand from here on.

  void Add(std::unique_ptr<Transfer> transfer) {
    if (shut_down_) {
      Complete(*transfer, Refused("transfers are stopping"));
      return;
    }
    transfer->easy = TakeEasy();
    transfer->exchange = std::make_unique<CurlExchange>(transfer->request, transfer->on_head,
                                                        transfer->on_body, registry_, clock_);
    if (!transfer->exchange->Prepare(transfer->easy)) {
      ReturnEasy(transfer->easy);
      Complete(*transfer, transfer->exchange->TakeOutcome());
      return;
    }
    CURL* easy = transfer->easy;
    if (curl_multi_add_handle(multi_, easy) != CURLM_OK) {
      transfer->exchange->Conclude(CURLE_OUT_OF_MEMORY);
      ReturnEasy(easy);
      Complete(*transfer, transfer->exchange->TakeOutcome());
      return;
    }
    transfers_.emplace(easy, std::move(transfer));
    ArmStallCheck();
  }

  void Complete(Transfer& transfer, CurlOutcome outcome) {
    Done done = std::move(transfer.done);
    running_.fetch_sub(1);
    done(std::move(outcome));
  }

  // Ends the transfer on `easy` with `code` and reports it.
  void Finish(CURL* easy, CURLcode code) {
    auto it = transfers_.find(easy);
    if (it == transfers_.end()) {
      return;
    }
    std::unique_ptr<Transfer> transfer = std::move(it->second);
    transfers_.erase(it);
    curl_multi_remove_handle(multi_, easy);
    transfer->exchange->Conclude(code);
    ReturnEasy(easy);
    Complete(*transfer, transfer->exchange->TakeOutcome());
  }

  CURL* TakeEasy() {
    if (!spare_.empty()) {
      CURL* easy = spare_.back();
      spare_.pop_back();
      return easy;
    }
    CURL* easy = curl_easy_init();
    if (easy == nullptr) {
      std::abort();
    }
    return easy;
  }

  void ReturnEasy(CURL* easy) {
    if (spare_.size() < kSpareHandles) {
      spare_.push_back(easy);
    } else {
      curl_easy_cleanup(easy);
    }
  }

  // Hands readiness (or a timeout) to libcurl and reports what ended.
  void Act(curl_socket_t fd, int events) {
    int still_running = 0;
    curl_multi_socket_action(multi_, fd, events, &still_running);
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
      if (message->msg == CURLMSG_DONE) {
        Finish(message->easy_handle, message->data.result);
      }
    }
  }

  static int OnSocket(CURL* /*easy*/, curl_socket_t fd, int what, void* user, void* /*socketp*/) {
    auto* self = static_cast<Impl*>(user);
    if (what == CURL_POLL_REMOVE) {
      self->Unwatch(fd);
      return 0;
    }
    std::shared_ptr<Watch>& watch = self->watches_[fd];
    if (!watch) {
      auto added = std::make_shared<Watch>(self->strand_);
      boost::system::error_code error;
      added->descriptor.assign(fd, error);
      if (error) {
        // The loop cannot watch it (e.g. out of epoll watches): libcurl
        // fails this transfer; no exception may unwind through libcurl.
        self->watches_.erase(fd);
        return -1;
      }
      watch = std::move(added);
    }
    watch->wanted = what;
    self->Arm(fd, watch);
    return 0;
  }

  static int OnTimer(CURLM* /*multi*/, long timeout_ms, void* user) {
    auto* self = static_cast<Impl*>(user);
    if (timeout_ms < 0) {
      self->curl_timer_.cancel();
      return 0;
    }
    // Never act from inside libcurl's callback: the timer runs it later,
    // at once for 0.
    self->curl_timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    self->curl_timer_.async_wait(
        asio::bind_executor(self->strand_, [weak = self->weak_from_this()](auto error) {
          auto impl = weak.lock();
          if (!error && impl && !impl->shut_down_) {
            impl->Act(CURL_SOCKET_TIMEOUT, 0);
          }
        }));
    return 0;
  }

  // Waits for what libcurl wants of the socket and not yet waited for.
  void Arm(curl_socket_t fd, const std::shared_ptr<Watch>& watch) {
    if ((watch->wanted & CURL_POLL_IN) != 0 && !watch->reading) {
      watch->reading = true;
      Wait(fd, watch, asio::posix::stream_descriptor::wait_read);
    }
    if ((watch->wanted & CURL_POLL_OUT) != 0 && !watch->writing) {
      watch->writing = true;
      Wait(fd, watch, asio::posix::stream_descriptor::wait_write);
    }
  }

  void Wait(curl_socket_t fd, const std::shared_ptr<Watch>& watch,
            asio::posix::stream_descriptor::wait_type type) {
    watch->descriptor.async_wait(
        type, asio::bind_executor(strand_, [weak = weak_from_this(), watch, fd,
                                            type](boost::system::error_code error) {
          const bool read = type == asio::posix::stream_descriptor::wait_read;
          (read ? watch->reading : watch->writing) = false;
          auto impl = weak.lock();
          if (error || !impl || impl->shut_down_) {
            return;
          }
          if (!impl->Watching(fd, watch)) {
            return;  // libcurl let go of the socket (and may reuse its number)
          }
          impl->Act(fd, read ? CURL_CSELECT_IN : CURL_CSELECT_OUT);
          for (int rereads = 0; read && rereads < kMaxRereads && impl->Watching(fd, watch) &&
                                (watch->wanted & CURL_POLL_IN) != 0 && Readable(fd);
               ++rereads) {
            impl->Act(fd, CURL_CSELECT_IN);
          }
          if (impl->Watching(fd, watch)) {
            impl->Arm(fd, watch);
          }
        }));
  }

  bool Watching(curl_socket_t fd, const std::shared_ptr<Watch>& watch) const {
    auto it = watches_.find(fd);
    return it != watches_.end() && it->second == watch;
  }

  void Unwatch(curl_socket_t fd) {
    auto it = watches_.find(fd);
    if (it == watches_.end()) {
      return;
    }
    // libcurl closes the socket itself: give it back without closing it;
    // pending waits end with operation_aborted.
    boost::system::error_code ignored;
    it->second->descriptor.cancel(ignored);
    (void)it->second->descriptor.release();
    watches_.erase(it);
  }

  // libcurl looks at a transfer's progress only while it drives it: a
  // silent connection is noticed here, at the earliest stall deadline of
  // the running transfers (not sooner than the check interval after the
  // last look, so a busy multi does not spin on it).
  void ArmStallCheck() {
    if (transfers_.empty()) {
      return;
    }
    Clock::TimePoint due = Clock::TimePoint::max();
    for (const auto& [easy, transfer] : transfers_) {
      due = std::min(due, transfer->exchange->StallDeadline());
    }
    due = std::max(due, last_stall_check_ + options_.stall_check_interval);
    if (stall_check_due_ && *stall_check_due_ <= due) {
      return;  // an earlier check is armed; it re-arms for the rest
    }
    stall_check_due_ = due;
    stall_timer_.expires_after(std::max(Clock::Duration::zero(), due - clock_.Now()));
    stall_timer_.async_wait(asio::bind_executor(strand_, [weak = weak_from_this()](auto error) {
      auto impl = weak.lock();
      if (!impl || error || impl->shut_down_) {
        return;  // replaced by an earlier arming, or stopping
      }
      impl->stall_check_due_.reset();
      impl->last_stall_check_ = impl->clock_.Now();
      impl->EndStalled();
      impl->ArmStallCheck();
    }));
  }

  void EndStalled() {
    const Clock::TimePoint now = clock_.Now();
    std::vector<CURL*> stalled;
    for (auto& [easy, transfer] : transfers_) {
      if (transfer->exchange->StallDeadline() <= now) {
        transfer->exchange->MarkStalled();
        stalled.push_back(easy);
      }
    }
    for (CURL* easy : stalled) {
      Finish(easy, CURLE_ABORTED_BY_CALLBACK);
    }
  }

  // Ends everything; on the strand, or anywhere once the loop stopped.
  void Shutdown() {
    if (shut_down_) {
      return;
    }
    shut_down_ = true;
    curl_timer_.cancel();
    stall_timer_.cancel();
    while (!transfers_.empty()) {
      CURL* easy = transfers_.begin()->first;
      std::unique_ptr<Transfer> transfer = std::move(transfers_.begin()->second);
      transfers_.erase(transfers_.begin());
      curl_multi_remove_handle(multi_, easy);
      transfer->exchange->Conclude(CURLE_ABORTED_BY_CALLBACK);
      curl_easy_cleanup(easy);
      CurlOutcome outcome = transfer->exchange->TakeOutcome();
      if (outcome.callback_status.ok()) {
        outcome.callback_status = Status::Cancelled("transfers are stopping");
      }
      Complete(*transfer, std::move(outcome));
    }
    // Closes the cached connections (through OnSocket and the registry).
    curl_multi_cleanup(multi_);
    multi_ = nullptr;
    while (!watches_.empty()) {
      Unwatch(watches_.begin()->first);
    }
    for (CURL* easy : spare_) {
      curl_easy_cleanup(easy);
    }
    spare_.clear();
  }

  asio::io_context& context_;
  AsioStrand strand_;
  asio::steady_timer curl_timer_;
  asio::steady_timer stall_timer_;
  const CurlMultiOptions options_;
  Clock& clock_;
  // Before multi_: libcurl closes cached connections through it at cleanup.
  SocketRegistry registry_;
  CURLM* multi_ = nullptr;
  std::map<CURL*, std::unique_ptr<Transfer>> transfers_;
  std::map<curl_socket_t, std::shared_ptr<Watch>> watches_;
  std::vector<CURL*> spare_;
  // The armed stall check's time, if one is armed; the last check's.
  std::optional<Clock::TimePoint> stall_check_due_;
  Clock::TimePoint last_stall_check_{};
  bool shut_down_ = false;
  std::atomic<bool> stopping_{false};  // Stop was called: Start refuses at once
  std::atomic<size_t> running_{0};
};

CurlMulti::CurlMulti(IoLoop& loop, CurlMultiOptions options, Clock& clock)
    : impl_(std::make_shared<Impl>(loop.context(), options, clock)) {}

CurlMulti::~CurlMulti() { Stop(); }

void CurlMulti::Start(CurlRequest request, CurlHeadCallback on_head, CurlBodyCallback on_body,
                      Done done) {
  impl_->Start(std::move(request), std::move(on_head), std::move(on_body), std::move(done));
}

void CurlMulti::Stop() { impl_->Stop(); }

size_t CurlMulti::running() const { return impl_->running(); }

}  // namespace feilong::source
