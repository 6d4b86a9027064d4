// A store's RocksDB opened directly, behind orgledger's back, with every column family: for
// tests and test tools that inspect or damage raw bytes. Header-only, so the tools need only
// RocksDB.
#pragma once

#include <rocksdb/db.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/store_format.h"

namespace orgledger::testing {

struct RawDb {
  // handles[0] is RocksDB's `default`, then store_format::kFamilies in their order.
  explicit RawDb(const std::string& directory, bool read_only = false) {
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    families.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
    for (std::string_view name : store_format::kFamilies) {
      families.emplace_back(std::string(name), rocksdb::ColumnFamilyOptions());
    }
    rocksdb::DB* raw = nullptr;
    opened = read_only
                 ? rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), directory, families, &handles,
                                                &raw)
                 : rocksdb::DB::Open(rocksdb::DBOptions(), directory, families, &handles, &raw);
    db.reset(raw);
    for (const auto& family : families) names.push_back(family.name);
  }
  ~RawDb() {
    for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle);
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  rocksdb::Status opened;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::vector<std::string> names;  // names[i] is the family of handles[i]
};

}  // namespace orgledger::testing
