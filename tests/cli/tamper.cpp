// Test tool: changes one byte of the stored record at a position, directly through RocksDB,
// behind orgledger's back. Usage: orgledger_tamper DIR POSITION
#include <rocksdb/db.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "engine/store_format.h"
#include "tests/support/raw_db.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: orgledger_tamper DIR POSITION\n");
    return 2;
  }
  const std::string directory = argv[1];
  const uint64_t position = std::strtoull(argv[2], nullptr, 10);
  orgledger::testing::RawDb raw(directory);
  if (!raw.opened.ok()) {
    std::fprintf(stderr, "cannot open %s: %s\n", directory.c_str(), raw.opened.ToString().c_str());
    return 1;
  }
  rocksdb::DB* db = raw.db.get();
  const auto& handles = raw.handles;
  const std::string key = orgledger::store_format::position_key(position);
  std::string value;
  rocksdb::Status status = db->Get(rocksdb::ReadOptions(), handles[1], key, &value);
  if (status.ok()) {
    // The last byte before the trailing padding of a string is inside the event's text fields.
    const size_t at = value.size() - 8;
    value[at] = static_cast<char>(value[at] ^ 0x01);
    status = db->Put(rocksdb::WriteOptions(), handles[1], key, value);
  }
  if (!status.ok()) {
    std::fprintf(stderr, "cannot change position %llu: %s\n",
                 static_cast<unsigned long long>(position), status.ToString().c_str());
    return 1;
  }
  return 0;
}
