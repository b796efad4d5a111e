#include "rpc/tls_stage.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <iterator>
#include <tuple>
#include <vector>

namespace feilong::rpc {

namespace {

// A PEM file larger than this is not a certificate set.
constexpr std::streamsize kMaxFileBytes = 1 << 20;

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

BioPtr MemoryBio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
}

std::vector<X509Ptr> Certificates(std::string_view pem) {
  std::vector<X509Ptr> certificates;
  BioPtr bio = MemoryBio(pem);
  while (bio != nullptr) {
    X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (certificate == nullptr) {
      break;
    }
    certificates.emplace_back(certificate, &X509_free);
  }
  ERR_clear_error();  // the read that ended the loop
  return certificates;
}

KeyPtr PrivateKey(std::string_view pem) {
  BioPtr bio = MemoryBio(pem);
  KeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr,
             &EVP_PKEY_free);
  ERR_clear_error();
  return key;
}

std::string Named(std::string_view key, const std::string& path) {
  return "tls." + std::string(key) + " " + path;
}

// An in-memory file holding `content`, sealed against changes.
Result<int> MemoryFile(const char* name, std::string_view content) {
  int fd = ::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    return Status::IOError(std::string("memfd_create: ") + std::strerror(errno));
  }
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return Status::IOError(std::string("writing a staged tls file: ") + std::strerror(err));
    }
    written += static_cast<size_t>(n);
  }
  ::fchmod(fd, 0400);
  ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  return fd;
}

}  // namespace

Status CheckTlsSet(std::string_view ca_pem, std::string_view cert_pem, std::string_view key_pem,
                   const TlsConfig& names) {
  std::vector<X509Ptr> authorities = Certificates(ca_pem);
  if (authorities.empty()) {
    return Status::InvalidArgument(Named("ca_file", names.ca_file) + ": no PEM certificate in it");
  }
  std::vector<X509Ptr> chain = Certificates(cert_pem);
  if (chain.empty()) {
    return Status::InvalidArgument(Named("cert_file", names.cert_file) +
                                   ": no PEM certificate in it");
  }
  KeyPtr key = PrivateKey(key_pem);
  if (key == nullptr) {
    return Status::InvalidArgument(Named("key_file", names.key_file) +
                                   ": no PEM private key in it");
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument(Named("key_file", names.key_file) +
                                   " does not match the certificate in " +
                                   Named("cert_file", names.cert_file));
  }

  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
  // sk_X509_free is a macro: wrapped for the deleter.
  auto free_stack = [](STACK_OF(X509) * stack) { sk_X509_free(stack); };
  std::unique_ptr<STACK_OF(X509), decltype(free_stack)> intermediates(sk_X509_new_null(),
                                                                      free_stack);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> context(X509_STORE_CTX_new(),
                                                                          &X509_STORE_CTX_free);
  if (!store || !intermediates || !context) {
    return Status::IOError("tls: out of memory checking the certificate");
  }
  for (const X509Ptr& authority : authorities) {
    X509_STORE_add_cert(store.get(), authority.get());
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    sk_X509_push(intermediates.get(), chain[i].get());
  }
  X509_STORE_CTX_init(context.get(), store.get(), chain.front().get(), intermediates.get());
  if (X509_verify_cert(context.get()) != 1) {
    int error = X509_STORE_CTX_get_error(context.get());
    ERR_clear_error();
    return Status::InvalidArgument(Named("cert_file", names.cert_file) + " is refused by " +
                                   Named("ca_file", names.ca_file) + ": " +
                                   X509_verify_cert_error_string(error));
  }
  return Status::Ok();
}

TlsStage::TlsStage(const TlsConfig& configured) : configured_(configured), staged_(configured) {}

TlsStage::~TlsStage() {
  watcher_ = {};  // joins before the descriptors go
  for (int fd : {ca_fd_, cert_fd_, key_fd_}) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

Result<std::unique_ptr<TlsStage>> TlsStage::Create(const TlsConfig& configured) {
  FL_RETURN_IF_ERROR(CheckTlsFiles(configured));
  std::unique_ptr<TlsStage> stage(new TlsStage(configured));
  FL_ASSIGN_OR_RETURN(Files files, stage->ReadConfigured());
  FL_RETURN_IF_ERROR(CheckTlsSet(files.ca, files.cert, files.key, configured));
  FL_RETURN_IF_ERROR(stage->Stage(files));
  stage->current_ = std::move(files);
  stage->generation_ = 1;
  auto path = [](int fd) { return "/proc/self/fd/" + std::to_string(fd); };
  stage->staged_.ca_file = path(stage->ca_fd_);
  stage->staged_.cert_file = path(stage->cert_fd_);
  stage->staged_.key_file = path(stage->key_fd_);
  stage->staged_.reload_interval = std::chrono::seconds(1);
  TlsStage* self = stage.get();
  stage->watcher_ = std::jthread([self](std::stop_token stop) { self->WatchLoop(stop); });
  return stage;
}

Result<TlsStage::Files> TlsStage::ReadConfigured() const {
  Files files;
  for (auto [key, path, out] : {std::tuple{"ca_file", &configured_.ca_file, &files.ca},
                                std::tuple{"cert_file", &configured_.cert_file, &files.cert},
                                std::tuple{"key_file", &configured_.key_file, &files.key}}) {
    std::ifstream in(*path, std::ios::binary);
    if (!in) {
      return Status::InvalidArgument(Named(key, *path) + ": cannot read: " + std::strerror(errno));
    }
    out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad() || static_cast<std::streamsize>(out->size()) > kMaxFileBytes) {
      return Status::InvalidArgument(Named(key, *path) + ": cannot read, or over 1 MiB");
    }
  }
  return files;
}

Status TlsStage::Stage(const Files& files) {
  // All three made before any is swapped in: a failure leaves the old set.
  FL_ASSIGN_OR_RETURN(int ca, MemoryFile("feilong-tls-ca", files.ca));
  Result<int> cert = MemoryFile("feilong-tls-cert", files.cert);
  Result<int> key = cert.ok() ? MemoryFile("feilong-tls-key", files.key) : Result<int>(-1);
  if (!cert.ok() || !key.ok()) {
    for (int fd : {ca, cert.ok() ? *cert : -1}) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
    return cert.ok() ? key.status() : cert.status();
  }
  // The CA first: a peer's new certificate is then trusted before this
  // host presents its own.
  for (auto [fresh, slot] :
       {std::pair{ca, &ca_fd_}, std::pair{*key, &key_fd_}, std::pair{*cert, &cert_fd_}}) {
    if (*slot < 0) {
      *slot = fresh;
      continue;
    }
    while (::dup3(fresh, *slot, O_CLOEXEC) < 0 && (errno == EINTR || errno == EBUSY)) {
    }
    ::close(fresh);
  }
  return Status::Ok();
}

Result<bool> TlsStage::Refresh() {
  std::lock_guard lock(mutex_);
  Result<Files> files = ReadConfigured();
  Status checked =
      files.ok() ? CheckTlsSet(files->ca, files->cert, files->key, configured_) : files.status();
  if (!checked.ok()) {
    spdlog::warn("tls_reload_refused kept_generation={} error=\"{}\"", generation_,
                 checked.message());
    return checked;
  }
  if (files->ca == current_.ca && files->cert == current_.cert && files->key == current_.key) {
    return false;
  }
  FL_RETURN_IF_ERROR(Stage(*files));
  current_ = std::move(files).value();
  ++generation_;
  spdlog::info("tls_reloaded generation={} cert_file={}", generation_, configured_.cert_file);
  return true;
}

uint64_t TlsStage::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

void TlsStage::WatchLoop(std::stop_token stop) {
  std::mutex mutex;
  std::condition_variable_any wake;
  std::unique_lock lock(mutex);
  while (!stop.stop_requested()) {
    wake.wait_for(lock, stop, configured_.reload_interval, [] { return false; });
    if (stop.stop_requested()) {
      break;
    }
    (void)Refresh();
  }
}

}  // namespace feilong::rpc
