// The event_ids and ledger memtables (engine/id_memtable.h) on real RocksDB: it must answer exactly
// as a sorted map would, in the memtable, in table files and across both, while a reader runs
// beside the writer. Seeded; the seed is printed, and ORGLEDGER_SEED=<n> reruns one.
#include "engine/id_memtable.h"

#include <doctest/doctest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/statistics.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/seed.h"
#include "tests/support/temp_dir.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

// `in_place` true: the ledger's form (values overwritten in place).
std::unique_ptr<rocksdb::DB> open_db(const std::string& directory, size_t write_buffer_size,
                                     bool in_place = false) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.allow_concurrent_memtable_write = false;
  options.write_buffer_size = write_buffer_size;
  options.inplace_update_support = in_place;
  options.statistics = rocksdb::CreateDBStatistics();
  options.memtable_factory = std::make_shared<IdMemTableFactory>(in_place);
  rocksdb::DB* db = nullptr;
  REQUIRE(rocksdb::DB::Open(options, directory, &db).ok());
  return std::unique_ptr<rocksdb::DB>(db);
}

std::optional<std::string> get(rocksdb::DB& db, const std::string& key) {
  std::string value;
  const rocksdb::Status read = db.Get(rocksdb::ReadOptions(), key, &value);
  if (read.IsNotFound()) return std::nullopt;
  REQUIRE(read.ok());
  return value;
}

std::map<std::string, std::string> scan(rocksdb::DB& db) {
  std::map<std::string, std::string> seen;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  std::string previous;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    CHECK((seen.empty() || previous < key));  // strictly in byte order
    previous = key;
    seen.emplace(key, it->value().ToString());
  }
  REQUIRE(it->status().ok());
  return seen;
}

// Keys of 1 to 20 bytes from a small alphabet (with zero bytes), so that many share their first
// 8 bytes, some are prefixes of others, and some are written again or deleted.
std::string random_key(std::mt19937_64& random) {
  static const char kAlphabet[] = {'\0', '\x01', 'a', 'b', '\xff'};
  std::string key(1 + random() % 20, 'a');
  for (char& c : key) c = kAlphabet[random() % sizeof kAlphabet];
  if (random() % 2 == 0) key.replace(0, std::min<size_t>(key.size(), 8), "event-id");
  return key;
}

}  // namespace

TEST_CASE("id memtable: works with the linked RocksDB (or the store falls back)") {
  CHECK(id_memtable_works());
  CHECK(std::string(event_ids_memtable_factory()->Name()) == "OrgledgerIdMemTableFactory");
  CHECK(std::string(ledger_memtable_factory()->Name()) == "OrgledgerInPlaceMemTableFactory");
}

TEST_CASE("id memtable: gets, scans and seeks equal a sorted map, before and after flushes") {
  const uint64_t seed = property_seed();
  MESSAGE("property seed ", seed, " (rerun with ORGLEDGER_SEED=", seed, ")");
  std::mt19937_64 random(seed);
  // Both forms, each a run of its own with the same seed.
  bool in_place = false;
  SUBCASE("the event ids' form") { in_place = false; }
  SUBCASE("in place: the ledger's form") { in_place = true; }
  CAPTURE(in_place);
  TempDir dir;
  // A 64 KiB write buffer: the run flushes many memtables, so lookups cross the mutable one,
  // immutable ones and table files.
  auto db = open_db(dir.str(), 64 << 10, in_place);
  std::map<std::string, std::string> model;
  const rocksdb::WriteOptions write;
  for (int step = 0; step < 20000; ++step) {
    const std::string key = random_key(random);
    const int op = static_cast<int>(random() % 10);
    if (op < 6) {
      const std::string value = std::to_string(step);
      REQUIRE(db->Put(write, key, value).ok());
      model[key] = value;
    } else if (op < 7) {
      REQUIRE(db->Delete(write, key).ok());
      model.erase(key);
    } else if (op < 9) {
      auto expected = model.find(key);
      const auto found = get(*db, key);
      if (expected == model.end()) {
        CHECK_MESSAGE(!found, "step ", step);
      } else {
        REQUIRE_MESSAGE(found, "step ", step);
        CHECK(*found == expected->second);
      }
    } else {
      // Seek: the first key at or after `key`, and the last at or before it.
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
      it->Seek(key);
      auto expected = model.lower_bound(key);
      CHECK(it->Valid() == (expected != model.end()));
      if (it->Valid() && expected != model.end()) {
        CHECK(it->key().ToString() == expected->first);
        CHECK(it->value().ToString() == expected->second);
        it->Next();
        CHECK(it->Valid() == (std::next(expected) != model.end()));
        if (it->Valid()) CHECK(it->key().ToString() == std::next(expected)->first);
      }
      // Backward iteration is not available where values are overwritten in place (RocksDB's
      // inplace_update_support): the ledger is only ever scanned forward.
      if (!in_place) {
        it->SeekForPrev(key);
        auto before = model.upper_bound(key);
        CHECK(it->Valid() == (before != model.begin()));
        if (it->Valid() && before != model.begin()) {
          CHECK(it->key().ToString() == std::prev(before)->first);
          it->Prev();
          CHECK(it->Valid() == (std::prev(before) != model.begin()));
        }
      }
    }
    if (step % 5000 == 4999) CHECK(scan(*db) == model);
  }
  CHECK(scan(*db) == model);
  // The in-place form did overwrite (a value of no greater size, its key's newest a value).
  const uint64_t updated =
      db->GetOptions().statistics->getTickerCount(rocksdb::NUMBER_KEYS_UPDATED);
  CHECK((updated > 0) == in_place);
  db.reset();
  db = open_db(dir.str(), 64 << 10, in_place);  // the log replayed into a fresh memtable
  CHECK(scan(*db) == model);
  for (const auto& [key, value] : model) REQUIRE(get(*db, key) == value);
}

TEST_CASE("id memtable: in place, a value rewritten at its size stays one entry") {
  TempDir dir;
  auto db = open_db(dir.str(), 4 << 20, /*in_place=*/true);  // everything stays in the memtable
  const rocksdb::WriteOptions write;
  auto entries = [&] {
    uint64_t count = 0;
    REQUIRE(db->GetIntProperty("rocksdb.num-entries-active-mem-table", &count));
    return count;
  };
  // An aggregate's 8-byte quantity, rewritten as usage joins it.
  for (int n = 10000000; n < 10001000; ++n) {
    REQUIRE(db->Put(write, "u-aggregate", std::to_string(n)).ok());
  }
  REQUIRE(db->Put(write, "u-other", "12345678").ok());
  CHECK(entries() == 2);
  CHECK(get(*db, "u-aggregate") == "10000999");
  // A longer value, and a deletion, are new entries; a shorter value after them overwrites.
  REQUIRE(db->Put(write, "u-aggregate", "123456789").ok());
  REQUIRE(db->Delete(write, "u-other").ok());
  REQUIRE(db->Put(write, "u-aggregate", "1").ok());
  CHECK(entries() == 4);
  CHECK(get(*db, "u-aggregate") == "1");
  CHECK(!get(*db, "u-other"));
  CHECK(scan(*db) == std::map<std::string, std::string>{{"u-aggregate", "1"}});
  REQUIRE(db->Flush(rocksdb::FlushOptions()).ok());
  CHECK(scan(*db) == std::map<std::string, std::string>{{"u-aggregate", "1"}});
  db.reset();
  db = open_db(dir.str(), 4 << 20, /*in_place=*/true);
  CHECK(get(*db, "u-aggregate") == "1");
}

TEST_CASE("id memtable: keys declared ahead are passed in order, and only on their thread") {
  const std::vector<std::pair<std::string, std::string>> writes = {
      {"a", "1"}, {"b", "2"}, {"c", "3"}};
  CHECK(KeysAhead::of_this_thread() == nullptr);
  {
    KeysAhead outer(writes);
    CHECK(KeysAhead::of_this_thread() == &outer);
    CHECK(!outer.ahead(1));   // nothing passed yet
    CHECK(!outer.pass("b"));  // not the next one
    const std::optional<size_t> hash_of_a = outer.pass("a");
    REQUIRE(hash_of_a);
    REQUIRE(outer.ahead(0));
    CHECK(outer.ahead(0)->key == "a");
    CHECK(outer.ahead(0)->hash == *hash_of_a);
    REQUIRE(outer.ahead(2));
    CHECK(outer.ahead(2)->key == "c");
    CHECK(outer.ahead(2)->hash != *hash_of_a);
    CHECK(!outer.ahead(3));
    size_t hash_of_c = 0;
    {
      const std::span<const std::pair<std::string, std::string>> last(&writes[2], 1);
      KeysAhead inner(last);
      CHECK(KeysAhead::of_this_thread() == &inner);
      const std::optional<size_t> passed_c = inner.pass("c");
      REQUIRE(passed_c);
      hash_of_c = *passed_c;
      CHECK(!inner.pass("c"));  // past the end
    }
    CHECK(KeysAhead::of_this_thread() == &outer);
    CHECK(outer.pass("b"));
    REQUIRE(outer.ahead(1));
    CHECK(outer.ahead(1)->key == "c");
    CHECK(outer.ahead(1)->hash == hash_of_c);  // a key's hash, whichever declaration holds it
    const KeysAhead* elsewhere = &outer;
    std::thread([&] { elsewhere = KeysAhead::of_this_thread(); }).join();
    CHECK(elsewhere == nullptr);
  }
  CHECK(KeysAhead::of_this_thread() == nullptr);
}

TEST_CASE("id memtable: in place, overwrites with keys declared ahead, in order or not") {
  const uint64_t seed = property_seed();
  MESSAGE("property seed ", seed, " (rerun with ORGLEDGER_SEED=", seed, ")");
  std::mt19937_64 random(seed);
  TempDir dir;
  auto db = open_db(dir.str(), 4 << 20, /*in_place=*/true);
  std::map<std::string, std::string> model;
  std::vector<std::pair<std::string, std::string>> writes;
  for (int n = 0; n < 600; ++n) writes.emplace_back("ledger-" + std::to_string(n), "");
  for (int round = 0; round < 8; ++round) {
    CAPTURE(round);
    std::shuffle(writes.begin(), writes.end(), random);
    for (auto& [key, value] : writes) value = std::to_string(10000000 + random() % 90000000);
    // Declared as written; shuffled again (the batch out of the declared order); a prefix only.
    std::vector<std::pair<std::string, std::string>> declared = writes;
    if (round % 3 == 1) std::shuffle(declared.begin(), declared.end(), random);
    if (round % 3 == 2) declared.resize(declared.size() / 3);
    KeysAhead ahead(declared);
    rocksdb::WriteBatch batch;
    for (const auto& [key, value] : writes) {
      REQUIRE(batch.Put(key, value).ok());
      model[key] = value;
    }
    REQUIRE(db->Write(rocksdb::WriteOptions(), &batch).ok());
    for (const auto& [key, value] : model) REQUIRE(get(*db, key) == value);
  }
  uint64_t entries = 0;
  REQUIRE(db->GetIntProperty("rocksdb.num-entries-active-mem-table", &entries));
  CHECK(entries == model.size());  // every overwrite in place
  CHECK(scan(*db) == model);
}

TEST_CASE("id memtable: a reader beside the writer finds every acknowledged key") {
  TempDir dir;
  auto db = open_db(dir.str(), 256 << 10);
  std::atomic<int> written{0};
  std::atomic<bool> done{false};
  std::atomic<int> misses{0}, reads{0};
  auto key_of = [](int n) { return "id-" + std::to_string(1000000 + n * 7919 % 1000000); };
  std::thread reader([&] {
    std::mt19937_64 random(7);
    while (!done.load()) {
      const int known = written.load();
      if (known == 0) continue;
      const int n = static_cast<int>(random() % known);
      std::string value;
      const rocksdb::Status read = db->Get(rocksdb::ReadOptions(), key_of(n), &value);
      if (!read.ok() || value != std::to_string(n)) ++misses;
      ++reads;
    }
  });
  for (int n = 0; n < 30000; ++n) {
    REQUIRE(db->Put(rocksdb::WriteOptions(), key_of(n), std::to_string(n)).ok());
    written.store(n + 1);
  }
  done.store(true);
  reader.join();
  CHECK(reads.load() > 0);
  CHECK(misses.load() == 0);
  for (int n = 0; n < 30000; n += 97) CHECK(get(*db, key_of(n)) == std::to_string(n));
}

TEST_CASE("id memtable: a read at a snapshot sees the value of its time, not a newer one") {
  TempDir dir;
  auto db = open_db(dir.str(), 4 << 20);  // everything stays in the memtable
  const rocksdb::WriteOptions write;
  REQUIRE(db->Put(write, "event-id-0000001", "first").ok());
  const rocksdb::Snapshot* snapshot = db->GetSnapshot();
  REQUIRE(db->Put(write, "event-id-0000001", "second").ok());
  REQUIRE(db->Delete(write, "event-id-0000002").ok());
  rocksdb::ReadOptions at_snapshot;
  at_snapshot.snapshot = snapshot;
  std::string value;
  REQUIRE(db->Get(at_snapshot, "event-id-0000001", &value).ok());
  CHECK(value == "first");
  CHECK(get(*db, "event-id-0000001") == "second");
  CHECK(!get(*db, "event-id-0000002"));
  db->ReleaseSnapshot(snapshot);
}
