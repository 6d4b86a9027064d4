// RocksDB's write-ahead log leaves the page cache once it is durable (docs/decisions.md, "Write
// path"). The log is written once, synced, and read again only by the recovery of a store that
// was not closed; every byte of it through the page cache took a page the kernel had to find.
// On a virtual machine whose free memory goes back to the host, each of those is a fault in the
// host on first touch: copying 10 M events' log (about 3 GB) into the page cache cost the writer
// thread 8.6 s, against under 1 s for the same bytes written into pages that were in use.
// Dropping the log's pages as soon as a sync has made them durable hands the same few
// megabytes back to every write.
#pragma once

#include <memory>
#include <string_view>

namespace rocksdb {
class FileSystem;
}

namespace orgledger {

// `base`, except that after each successful Sync or Fsync of a write-ahead log file, the pages
// of that file the sync made durable are dropped from the page cache, up to its last full page
// (the partial page after it is where the next append goes: dropped, it would be read back from
// the disk first). Dropping is advice to the kernel: when it fails, nothing else does.
std::shared_ptr<rocksdb::FileSystem> dropping_synced_wal_pages(
    std::shared_ptr<rocksdb::FileSystem> base);

// Whether `path` names a RocksDB write-ahead log file ("<number>.log"), not the info log
// ("LOG", "LOG.old.<time>") or any other file.
bool is_wal_file(std::string_view path);

}  // namespace orgledger
