#include "tests/support/fault_fs.h"

namespace orgledger::testing {
namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

class FaultyFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyFile(std::unique_ptr<rocksdb::FSWritableFile> file, FaultInjectingFileSystem& fs,
             bool table)
      : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs), table_(table) {}

  IOStatus Append(const Slice& data, const IOOptions& options, IODebugContext* debug) override {
    IOStatus fault = fs_.check(false, table_);
    return fault.ok() ? FSWritableFileOwnerWrapper::Append(data, options, debug) : fault;
  }
  IOStatus Append(const Slice& data, const IOOptions& options,
                  const rocksdb::DataVerificationInfo& info, IODebugContext* debug) override {
    IOStatus fault = fs_.check(false, table_);
    return fault.ok() ? FSWritableFileOwnerWrapper::Append(data, options, info, debug) : fault;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            IODebugContext* debug) override {
    IOStatus fault = fs_.check(false, table_);
    return fault.ok() ? FSWritableFileOwnerWrapper::PositionedAppend(data, offset, options, debug)
                      : fault;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            const rocksdb::DataVerificationInfo& info,
                            IODebugContext* debug) override {
    IOStatus fault = fs_.check(false, table_);
    return fault.ok()
               ? FSWritableFileOwnerWrapper::PositionedAppend(data, offset, options, info, debug)
               : fault;
  }
  IOStatus Flush(const IOOptions& options, IODebugContext* debug) override {
    IOStatus fault = fs_.check(false, table_);
    return fault.ok() ? FSWritableFileOwnerWrapper::Flush(options, debug) : fault;
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* debug) override {
    IOStatus fault = fs_.check(true, table_);
    return fault.ok() ? FSWritableFileOwnerWrapper::Sync(options, debug) : fault;
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* debug) override {
    IOStatus fault = fs_.check(true, table_);
    return fault.ok() ? FSWritableFileOwnerWrapper::Fsync(options, debug) : fault;
  }

 private:
  FaultInjectingFileSystem& fs_;
  const bool table_;
};

bool is_table_file(const std::string& name) {
  return name.size() >= 4 && name.compare(name.size() - 4, 4, ".sst") == 0;
}

}  // namespace

FaultInjectingFileSystem::FaultInjectingFileSystem()
    : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

IOStatus FaultInjectingFileSystem::check(bool sync, bool table) {
  switch (fault_.load()) {
    case DiskFault::kNone:
      return IOStatus::OK();
    case DiskFault::kSyncError:
      if (!sync) return IOStatus::OK();
      ++failures_;
      return IOStatus::IOError("injected sync failure");
    case DiskFault::kWriteError:
    case DiskFault::kUnreadable:
      ++failures_;
      return IOStatus::IOError("injected write failure");
    case DiskFault::kNoSpace:
      ++failures_;
      return IOStatus::NoSpace("injected: no space left on device");
    case DiskFault::kTableWriteError:
      if (!table) return IOStatus::OK();
      ++failures_;
      return IOStatus::IOError("injected table file write failure");
  }
  return IOStatus::OK();
}

IOStatus FaultInjectingFileSystem::check_read() {
  if (fault_.load() != DiskFault::kUnreadable) return IOStatus::OK();
  ++failures_;
  return IOStatus::IOError("injected read failure");
}

IOStatus FaultInjectingFileSystem::NewSequentialFile(
    const std::string& name, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSSequentialFile>* result, IODebugContext* debug) {
  if (IOStatus fault = check_read(); !fault.ok()) return fault;
  return target()->NewSequentialFile(name, options, result, debug);
}

IOStatus FaultInjectingFileSystem::NewRandomAccessFile(
    const std::string& name, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSRandomAccessFile>* result, IODebugContext* debug) {
  if (IOStatus fault = check_read(); !fault.ok()) return fault;
  return target()->NewRandomAccessFile(name, options, result, debug);
}

IOStatus FaultInjectingFileSystem::NewWritableFile(const std::string& name,
                                                   const rocksdb::FileOptions& options,
                                                   std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                   IODebugContext* debug) {
  const bool table = is_table_file(name);
  if (IOStatus fault = check(false, table); !fault.ok()) return fault;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus opened = target()->NewWritableFile(name, options, &file, debug);
  if (opened.ok()) *result = std::make_unique<FaultyFile>(std::move(file), *this, table);
  return opened;
}

IOStatus FaultInjectingFileSystem::ReuseWritableFile(
    const std::string& name, const std::string& old_name, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext* debug) {
  const bool table = is_table_file(name);
  if (IOStatus fault = check(false, table); !fault.ok()) return fault;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus opened = target()->ReuseWritableFile(name, old_name, options, &file, debug);
  if (opened.ok()) *result = std::make_unique<FaultyFile>(std::move(file), *this, table);
  return opened;
}

FaultyDisk make_faulty_disk() {
  FaultyDisk disk;
  disk.fs = std::make_shared<FaultInjectingFileSystem>();
  disk.env = rocksdb::NewCompositeEnv(disk.fs);
  return disk;
}

}  // namespace orgledger::testing
