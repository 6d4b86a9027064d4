// Test tool: looks for secrets in every column family of a store except `credentials` (the one
// place secrets may live), reading RocksDB directly and read-only. Each SECRET_FILE holds one
// secret on its first line (a password, a token, or a base32 TOTP seed, whose decoded key bytes
// are looked for too). Exit 0 when none appears, 1 when one does (each hit is printed), 2 on
// usage or I/O errors.
// Usage: orgledger_scan_secrets DIR SECRET_FILE...
#include <rocksdb/db.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engine/store_format.h"
#include "projections/credentials.h"
#include "tests/support/raw_db.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: orgledger_scan_secrets DIR SECRET_FILE...\n");
    return 2;
  }
  std::vector<std::pair<std::string, std::string>> needles;  // (what, bytes)
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i]);
    std::string secret;
    if (!in || !std::getline(in, secret) || secret.empty()) {
      std::fprintf(stderr, "cannot read a secret from %s\n", argv[i]);
      return 2;
    }
    needles.emplace_back(std::string(argv[i]), secret);
    if (auto key = orgledger::decode_base32(secret); key.is_ok() && key->size() >= 10) {
      needles.emplace_back(std::string(argv[i]) + " (decoded key)",
                           std::string(key->begin(), key->end()));
    }
  }
  orgledger::testing::RawDb raw(argv[1], /*read_only=*/true);
  if (!raw.opened.ok()) {
    std::fprintf(stderr, "cannot open %s: %s\n", argv[1], raw.opened.ToString().c_str());
    return 2;
  }
  size_t entries = 0, hits = 0, scanned_families = 0;
  for (size_t f = 0; f < raw.handles.size(); ++f) {
    if (raw.names[f] == orgledger::store_format::kCredentialsFamily) continue;
    ++scanned_families;
    std::unique_ptr<rocksdb::Iterator> it(
        raw.db->NewIterator(rocksdb::ReadOptions(), raw.handles[f]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++entries;
      for (const auto& [what, bytes] : needles) {
        if (it->key().ToStringView().find(bytes) != std::string_view::npos ||
            it->value().ToStringView().find(bytes) != std::string_view::npos) {
          std::printf("secret from %s found in family %s\n", what.c_str(), raw.names[f].c_str());
          ++hits;
        }
      }
    }
    if (!it->status().ok()) {
      std::fprintf(stderr, "cannot read %s: %s\n", raw.names[f].c_str(),
                   it->status().ToString().c_str());
      return 2;
    }
  }
  std::printf("scanned %zu entries in %zu families for %zu secrets: %zu found\n", entries,
              scanned_families, needles.size(), hits);
  return hits == 0 ? 0 : 1;
}
