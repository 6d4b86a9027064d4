#include "engine/wal_cache.h"

#include <rocksdb/file_system.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

namespace orgledger {
namespace {

uint64_t page_size() {
  static const uint64_t size = [] {
    const long reported = sysconf(_SC_PAGESIZE);
    return reported > 0 ? static_cast<uint64_t>(reported) : uint64_t{4096};
  }();
  return size;
}

// A write-ahead log file that drops its durable full pages after each sync.
class WalFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  explicit WalFile(std::unique_ptr<rocksdb::FSWritableFile> file)
      : FSWritableFileOwnerWrapper(std::move(file)) {}

  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                         rocksdb::IODebugContext* debug) override {
    rocksdb::IOStatus synced = target()->Sync(options, debug);
    if (synced.ok()) drop_durable_pages(options, debug);
    return synced;
  }

  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* debug) override {
    rocksdb::IOStatus synced = target()->Fsync(options, debug);
    if (synced.ok()) drop_durable_pages(options, debug);
    return synced;
  }

 private:
  // Everything appended before the sync is durable: the full pages of it not dropped yet go.
  void drop_durable_pages(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) {
    const uint64_t durable = target()->GetFileSize(options, debug);
    const uint64_t full_pages_end = durable - durable % page_size();
    if (full_pages_end <= dropped_) return;
    // Advice only (POSIX_FADV_DONTNEED): the sync succeeded, and a failure here costs memory,
    // never data, so it is not the write's error.
    rocksdb::IOStatus dropped = target()->InvalidateCache(dropped_, full_pages_end - dropped_);
    dropped.PermitUncheckedError();
    dropped_ = full_pages_end;
  }

  uint64_t dropped_ = 0;  // the pages before this offset are dropped already
};

class WalCacheFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  explicit WalCacheFileSystem(std::shared_ptr<rocksdb::FileSystem> base)
      : FileSystemWrapper(std::move(base)) {}
  const char* Name() const override { return "orgledger.WalCacheFileSystem"; }

  // RocksDB creates each log file new (it recycles none: docs/decisions.md, "Write path").
  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* debug) override {
    rocksdb::IOStatus opened = target()->NewWritableFile(name, options, result, debug);
    if (opened.ok() && is_wal_file(name)) *result = std::make_unique<WalFile>(std::move(*result));
    return opened;
  }
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> dropping_synced_wal_pages(
    std::shared_ptr<rocksdb::FileSystem> base) {
  return std::make_shared<WalCacheFileSystem>(std::move(base));
}

bool is_wal_file(std::string_view path) {
  const size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  constexpr std::string_view kSuffix = ".log";
  if (name.size() <= kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return false;
  }
  const std::string_view number = name.substr(0, name.size() - kSuffix.size());
  return std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace orgledger
