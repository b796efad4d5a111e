// Streaming a task's bytes from the piece store to a client while its
// download runs. Shared by the registry mirror (blob GETs) and the HTTP
// proxy (P2P GETs): both start a download through the daemon, are woken by
// each change of its progress, and send each piece as soon as the store
// holds it, in order, with pread(2) on the connection's thread.
//
// Thread rule: ProgressWatch is thread-safe (the download's strand writes,
// the connection's coroutine reads). The coroutines run on the caller's
// executor and touch only their arguments.
#pragma once

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "mirror/blob_fetcher.h"
#include "storage/piece_store.h"

namespace feilong::mirror {

// How long a stream waits for a change of progress before it looks again
// anyway. Only a safety net: every change wakes it at once.
inline constexpr auto kProgressRecheckInterval = std::chrono::seconds(1);
// Bytes read from the piece store and written per step.
inline constexpr size_t kStreamChunk = 256 * 1024;

// What a download's progress callback leaves for the connection's
// coroutine. Hold it in a shared_ptr: the download may call back after the
// coroutine ended.
class ProgressWatch {
 public:
  // Stores the download's latest progress, then calls the wake function.
  void Set(const BlobProgress& progress);
  BlobProgress Get() const;
  // Calls `wake` after every Set from now on, on the setting thread and
  // under the watch's lock (so it must only post); an empty function stops
  // it. Once OnChange returns, the previous function is not running and
  // will not run again. The owner of the executor `wake` posts to must stop
  // the downloads that Set before it destroys the executor (the daemon stops
  // its TaskManager before the mirror and the proxy).
  void OnChange(std::function<void()> wake);

 private:
  mutable Mutex mutex_;
  BlobProgress progress_ FL_GUARDED_BY(mutex_);
  std::function<void()> wake_ FL_GUARDED_BY(mutex_);
};

// Waits until `pred(progress)` holds or the download failed, woken by each
// change of progress. Returns the progress seen last. REQUIRES: the
// coroutine runs on a strand (a connection's), which the wake-up is posted
// to, so a change either comes before the next check or ends the wait
// after it; and no other coroutine waits on `watch` at the same time.
template <class Pred>
boost::asio::awaitable<BlobProgress> WaitForProgress(ProgressWatch& watch, Pred pred) {
  auto executor = co_await boost::asio::this_coro::executor;
  auto timer = std::make_shared<boost::asio::steady_timer>(executor);
  watch.OnChange([executor, weak = std::weak_ptr(timer)] {
    boost::asio::post(executor, [weak] {
      if (auto waiting = weak.lock()) {
        waiting->cancel();
      }
    });
  });
  struct StopWaking {
    ProgressWatch& watch;
    ~StopWaking() { watch.OnChange(nullptr); }
  } stop_waking{watch};
  for (;;) {
    BlobProgress progress = watch.Get();
    if (pred(progress) || (progress.done && !progress.status.ok())) {
      co_return progress;
    }
    timer->expires_after(kProgressRecheckInterval);
    co_await timer->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
}

// Reads exactly `length` bytes at `offset`. False on an I/O error or EOF.
bool PreadAll(int fd, char* out, size_t length, uint64_t offset);

// Where a body comes from and how it is sent.
struct PieceStreamSpec {
  std::string task_id;
  uint64_t piece_length = 0;                  // of the task, from its TaskMeta
  uint64_t content_length = 0;                // of the task
  uint64_t begin = 0;                         // first byte sent
  uint64_t end = 0;                           // one past the last byte sent; <= content_length
  std::chrono::milliseconds timeout{60'000};  // per write to the client
};

struct PieceStreamHooks {
  // Each chunk read from the store, before it is written (e.g. to hash it).
  std::function<void(std::span<const uint8_t>)> on_read;
  // Before the chunk that ends the content is written: the last bytes are
  // held back until this says OK (e.g. the download finished and the whole
  // content matched its digest). Not called for a range that stops short of
  // the end. Empty: no check.
  std::function<boost::asio::awaitable<Status>()> before_last;
  // After each successful write of `n` body bytes.
  std::function<void(size_t n)> on_sent;
};

struct PieceStreamResult {
  Status failure;            // the download failed, a read failed or before_last refused
  bool client_gone = false;  // a write to the client failed
  uint64_t sent = 0;         // body bytes written
};

// Writes bytes [begin, end) of the task to `client` (a Beast stream whose
// lowest layer is a beast::tcp_stream), waiting for each piece to arrive in
// the store. The caller has sent the response head.
template <class Stream>
boost::asio::awaitable<PieceStreamResult> StreamPieces(Stream& client, ProgressWatch& watch,
                                                       storage::PieceStore& store,
                                                       const PieceStreamSpec& spec,
                                                       const PieceStreamHooks& hooks) {
  PieceStreamResult result;
  std::vector<char> buffer(kStreamChunk);
  uint64_t position = spec.begin;
  while (position < spec.end) {
    const uint32_t number = static_cast<uint32_t>(position / spec.piece_length);
    BlobProgress p = co_await WaitForProgress(watch, [&](const BlobProgress& p) {
      return p.done || store.HasPiece(spec.task_id, number);
    });
    if (p.done && !p.status.ok()) {
      result.failure = p.status;
      co_return result;
    }
    Result<storage::PieceReadHandle> piece = store.OpenPiece(spec.task_id, number);
    if (!piece.ok()) {
      result.failure = piece.status();
      co_return result;
    }
    const uint64_t piece_end = std::min<uint64_t>(piece->offset + piece->length, spec.end);
    while (position < piece_end) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kStreamChunk, piece_end - position));
      if (!PreadAll(piece->fd(), buffer.data(), n, position)) {
        result.failure =
            Status::IOError("reading task " + spec.task_id + " at " + std::to_string(position));
        co_return result;
      }
      if (hooks.on_read) {
        hooks.on_read(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(buffer.data()), n));
      }
      if (position + n == spec.content_length && hooks.before_last) {
        Status last_ok = co_await hooks.before_last();
        if (!last_ok.ok()) {
          result.failure = last_ok;
          co_return result;
        }
      }
      boost::beast::get_lowest_layer(client).expires_after(spec.timeout);
      auto [ec, written] =
          co_await boost::asio::async_write(client, boost::asio::buffer(buffer.data(), n),
                                            boost::asio::as_tuple(boost::asio::use_awaitable));
      (void)written;
      if (ec) {
        result.client_gone = true;
        co_return result;
      }
      position += n;
      result.sent += n;
      if (hooks.on_sent) {
        hooks.on_sent(n);
      }
    }
  }
  co_return result;
}

}  // namespace feilong::mirror
