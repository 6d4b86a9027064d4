// The event_ids, ledger and records' memtables (engine/id_memtable.h) on real RocksDB: each must
// answer exactly as a sorted map would, in the memtable, in table files and across both, while a
// reader runs beside the writer. Seeded; the seed is printed, and ORGLEDGER_SEED=<n> reruns one.
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

#include "engine/store_format.h"
#include "tests/support/seed.h"
#include "tests/support/temp_dir.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

// The memtable a test runs on: the event ids', the ledger's (values overwritten in place) or the
// records' (LogMemTableFactory).
enum class Form { kIds, kInPlace, kLog };

std::unique_ptr<rocksdb::DB> open_db(const std::string& directory, size_t write_buffer_size,
                                     Form form = Form::kIds) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.allow_concurrent_memtable_write = false;
  options.write_buffer_size = write_buffer_size;
  options.inplace_update_support = form == Form::kInPlace;
  options.statistics = rocksdb::CreateDBStatistics();
  if (form == Form::kLog) {
    options.memtable_factory = std::make_shared<LogMemTableFactory>();
  } else {
    options.memtable_factory = std::make_shared<IdMemTableFactory>(form == Form::kInPlace);
  }
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
  CHECK(std::string(events_memtable_factory()->Name()) == "OrgledgerLogMemTableFactory");
}

TEST_CASE("id memtable: gets, scans and seeks equal a sorted map, before and after flushes") {
  const uint64_t seed = printed_seed("property");
  std::mt19937_64 random(seed);
  // Each form, a run of its own with the same seed. Random keys take the records' form out of
  // key order at once: its fallback, sorting a copy for each read, answers too.
  Form form = Form::kIds;
  SUBCASE("the event ids' form") { form = Form::kIds; }
  SUBCASE("in place: the ledger's form") { form = Form::kInPlace; }
  SUBCASE("the records' form, keys out of order") { form = Form::kLog; }
  CAPTURE(form);
  const bool in_place = form == Form::kInPlace;
  TempDir dir;
  // A 64 KiB write buffer: the run flushes many memtables, so lookups cross the mutable one,
  // immutable ones and table files.
  auto db = open_db(dir.str(), 64 << 10, form);
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
  db = open_db(dir.str(), 64 << 10, form);  // the log replayed into a fresh memtable
  CHECK(scan(*db) == model);
  for (const auto& [key, value] : model) REQUIRE(get(*db, key) == value);
}

TEST_CASE("id memtable: in place, a value rewritten at its size stays one entry") {
  TempDir dir;
  auto db = open_db(dir.str(), 4 << 20, Form::kInPlace);  // everything stays in the memtable
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
  db = open_db(dir.str(), 4 << 20, Form::kInPlace);
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
  const uint64_t seed = printed_seed("property");
  std::mt19937_64 random(seed);
  TempDir dir;
  auto db = open_db(dir.str(), 4 << 20, Form::kInPlace);
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

// A record's key, as the store writes it.
using store_format::position_key;

TEST_CASE("records' memtable: keys in order are found, scanned and sought, across flushes") {
  const uint64_t seed = printed_seed("property");
  std::mt19937_64 random(seed);
  TempDir dir;
  // 64 KiB memtables: reads cross the one being written, read-only ones and table files.
  auto db = open_db(dir.str(), 64 << 10, Form::kLog);
  std::map<std::string, std::string> model;
  const rocksdb::WriteOptions write;
  uint64_t head = 0;
  for (int step = 0; step < 20000; ++step) {
    const int op = static_cast<int>(random() % 10);
    if (op < 6) {
      // Records of 1 to 600 bytes, one position after the other, sometimes several in a batch.
      rocksdb::WriteBatch batch;
      const int records = 1 + static_cast<int>(random() % 4);
      for (int r = 0; r < records; ++r) {
        const std::string key = position_key(++head);
        const std::string value(1 + random() % 600, static_cast<char>('a' + head % 26));
        REQUIRE(batch.Put(key, value).ok());
        model[key] = value;
      }
      REQUIRE(db->Write(write, &batch).ok());
    } else if (op < 8) {
      // A stored position, or one past either end.
      const uint64_t position = random() % (head + 2);
      const auto found = get(*db, position_key(position));
      const auto expected = model.find(position_key(position));
      if (expected == model.end()) {
        CHECK_MESSAGE(!found, "step ", step);
      } else {
        REQUIRE_MESSAGE(found, "step ", step);
        CHECK(*found == expected->second);
      }
    } else {
      const std::string key = position_key(random() % (head + 2));
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
      it->Seek(key);
      auto expected = model.lower_bound(key);
      for (int n = 0; n < 3 && expected != model.end(); ++n, ++expected, it->Next()) {
        REQUIRE_MESSAGE(it->Valid(), "step ", step);
        CHECK(it->key().ToString() == expected->first);
        CHECK(it->value().ToString() == expected->second);
      }
      it->SeekForPrev(key);
      auto before = model.upper_bound(key);
      CHECK(it->Valid() == (before != model.begin()));
      if (it->Valid() && before != model.begin()) {
        CHECK(it->key().ToString() == std::prev(before)->first);
      }
    }
    if (step % 5000 == 4999) CHECK(scan(*db) == model);
  }
  CHECK(scan(*db) == model);
  db.reset();
  db = open_db(dir.str(), 64 << 10, Form::kLog);  // the log replayed into a fresh memtable
  CHECK(scan(*db) == model);
}

TEST_CASE("records' memtable: a reader scanning beside the writer reads every record in order") {
  TempDir dir;
  auto db = open_db(dir.str(), 256 << 10, Form::kLog);
  constexpr uint64_t kRecords = 30000;
  auto value_of = [](uint64_t position) { return "record-" + std::to_string(position * 7919); };
  std::atomic<uint64_t> written{0};
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0}, scans{0};
  std::thread reader([&] {
    std::mt19937_64 random(11);
    while (!done.load()) {
      const uint64_t known = written.load();
      if (known == 0) continue;
      // From a stored position to at least the last one acknowledged before the scan began,
      // every position in turn with its value, and nothing past the last written.
      const uint64_t from = 1 + random() % known;
      uint64_t next = from;
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
      for (it->Seek(position_key(from)); it->Valid() && next <= kRecords; it->Next(), ++next) {
        if (it->key().ToString() != position_key(next) ||
            it->value().ToString() != value_of(next)) {
          ++wrong;
          break;
        }
      }
      if (!it->status().ok() || next <= known || it->Valid()) ++wrong;
      ++scans;
    }
  });
  for (uint64_t position = 1; position <= kRecords; ++position) {
    REQUIRE(db->Put(rocksdb::WriteOptions(), position_key(position), value_of(position)).ok());
    written.store(position);
  }
  done.store(true);
  reader.join();
  CHECK(scans.load() > 0);
  CHECK(wrong.load() == 0);
  for (uint64_t position = 1; position <= kRecords; position += 97) {
    CHECK(get(*db, position_key(position)) == value_of(position));
  }
}

TEST_CASE("memtables: iterators over one being written count in its size, so reads stay bounded") {
  // RocksDB destroys the iterators it has a memtable place in its arena without freeing them:
  // were their memory outside the memtable's size, a memtable read often and written slowly
  // would grow without bound. Counted in it, the reads fill it as writes would, and RocksDB
  // moves on to a new memtable once it is full.
  Form form = Form::kIds;
  SUBCASE("the event ids' form") { form = Form::kIds; }
  SUBCASE("the records' form") { form = Form::kLog; }
  CAPTURE(form);
  TempDir dir;
  auto db = open_db(dir.str(), 256 << 10, form);
  const rocksdb::WriteOptions write;
  auto active_entries = [&] {
    uint64_t entries = 0;
    REQUIRE(db->GetIntProperty("rocksdb.num-entries-active-mem-table", &entries));
    return entries;
  };
  REQUIRE(db->Put(write, position_key(1), "first").ok());
  REQUIRE(db->Put(write, position_key(2), "second").ok());
  CHECK(active_entries() == 2);
  // About 1 MB of iterators over a memtable of 256 KB.
  for (int n = 0; n < 20000; ++n) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    REQUIRE(it->Valid());
  }
  // The next write finds the memtable full, and the one after it writes to a new one.
  REQUIRE(db->Put(write, position_key(3), "third").ok());
  CHECK(active_entries() == 3);
  REQUIRE(db->Put(write, position_key(4), "fourth").ok());
  CHECK(active_entries() == 1);
  CHECK(get(*db, position_key(1)) == "first");
  CHECK(get(*db, position_key(4)) == "fourth");
}
