// Test tool: changes one byte of the stored record at a position, directly through RocksDB,
// behind orgledger's back. Usage: orgledger_tamper DIR POSITION
#include <rocksdb/db.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "engine/store_format.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: orgledger_tamper DIR POSITION\n");
    return 2;
  }
  const std::string directory = argv[1];
  const uint64_t position = std::strtoull(argv[2], nullptr, 10);
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  families.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (std::string_view name : orgledger::store_format::kFamilies) {
    families.emplace_back(std::string(name), rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status status =
      rocksdb::DB::Open(rocksdb::DBOptions(), directory, families, &handles, &raw);
  if (!status.ok()) {
    std::fprintf(stderr, "cannot open %s: %s\n", directory.c_str(), status.ToString().c_str());
    return 1;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  const std::string key = orgledger::store_format::position_key(position);
  std::string value;
  status = db->Get(rocksdb::ReadOptions(), handles[1], key, &value);
  if (status.ok()) {
    // The last byte before the trailing padding of a string is inside the event's text fields.
    const size_t at = value.size() - 8;
    value[at] = static_cast<char>(value[at] ^ 0x01);
    status = db->Put(rocksdb::WriteOptions(), handles[1], key, value);
  }
  for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle);
  if (!status.ok()) {
    std::fprintf(stderr, "cannot change position %llu: %s\n",
                 static_cast<unsigned long long>(position), status.ToString().c_str());
    return 1;
  }
  return 0;
}
