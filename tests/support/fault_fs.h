// A RocksDB FileSystem that fails writes on demand (docs/reliability.md, "Disk faults"): every
// file RocksDB writes goes through it, and while a fault is set, appends and/or syncs answer an
// I/O error or "no space left". Clearing the fault makes the disk healthy again.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <memory>

namespace orgledger::testing {

enum class DiskFault {
  kNone,
  kWriteError,  // Append, Flush and Sync fail with an I/O error: nothing reaches the file
  kSyncError,   // Append succeeds but Sync fails: the bytes are in the file, not durable
  kNoSpace,     // Append, Flush and Sync fail with "no space left on device"
  // Only table files (*.sst) fail to be created or written, with an I/O error: RocksDB's flushes
  // and compactions fail in the background while the log still takes writes.
  kTableWriteError,
  // Writes fail as with kWriteError, and no file can be opened for reading either: a store
  // closed after a failed write cannot be opened again, not even read-only.
  kUnreadable,
};

class FaultInjectingFileSystem : public rocksdb::FileSystemWrapper {
 public:
  FaultInjectingFileSystem();
  const char* Name() const override { return "FaultInjectingFileSystem"; }

  void set_fault(DiskFault fault) { fault_.store(fault); }
  DiskFault fault() const { return fault_.load(); }
  // How many operations failed because of a fault so far.
  uint64_t failures() const { return failures_.load(); }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus NewSequentialFile(const std::string& name, const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSSequentialFile>* result,
                                      rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus NewRandomAccessFile(const std::string& name,
                                        const rocksdb::FileOptions& options,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* result,
                                        rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& name, const std::string& old_name,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* debug) override;

  // The error for an operation on a file now (OK when it may proceed); `sync` for Sync/Fsync,
  // `table` for a table file.
  rocksdb::IOStatus check(bool sync, bool table);
  // The error for opening a file to read it now.
  rocksdb::IOStatus check_read();

 private:
  std::atomic<DiskFault> fault_{DiskFault::kNone};
  std::atomic<uint64_t> failures_{0};
};

// A file system with its Env, ready for StoreOptions::env.
struct FaultyDisk {
  std::shared_ptr<FaultInjectingFileSystem> fs;
  std::shared_ptr<rocksdb::Env> env;
};
FaultyDisk make_faulty_disk();

}  // namespace orgledger::testing
