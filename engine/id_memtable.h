#pragma once

#include <rocksdb/memtablerep.h>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orgledger {

// A RocksDB memtable for a family whose keys are looked up whole and almost never iterated: the
// event ids. Lookups go through a hash table; the entries are kept in arrival order and sorted
// once, with a radix-like key prefix, when RocksDB flushes the memtable (or, copied, when a
// mutable memtable is iterated). RocksDB's own hash memtables rebuild a skiplist at every flush,
// which cost about a third of the server's CPU under bulk load (docs/decisions.md "Write path").
//
// Requirements: the family's comparator is RocksDB's bytewise comparator (the prefix order is
// the byte order), and allow_concurrent_memtable_write is false (one inserting thread; readers
// run concurrently).
//
// In place (`in_place` true), it also finds, without sorting anything, the entry RocksDB
// overwrites when the family sets inplace_update_support: a value rewritten with one of no
// greater size replaces the old one in the memtable instead of adding an entry. That is the
// ledger's memtable: each aggregate is rewritten with every usage event that joins it, always
// 8 bytes, and only ever scanned whole, so a memtable keeps one entry per aggregate instead of
// one per event, and a flush sorts and writes that many.
class IdMemTableFactory final : public rocksdb::MemTableRepFactory {
 public:
  explicit IdMemTableFactory(bool in_place = false) : in_place_(in_place) {}
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& compare,
                                          rocksdb::Allocator* allocator,
                                          const rocksdb::SliceTransform* prefix_extractor,
                                          rocksdb::Logger* logger) override;
  const char* Name() const override {
    return in_place_ ? "OrgledgerInPlaceMemTableFactory" : "OrgledgerIdMemTableFactory";
  }

 private:
  bool in_place_;
};

// A RocksDB memtable for a family whose keys are written in increasing order: the records,
// keyed by position. Its entries are kept in arrival order, which is then key order, in chunks
// that never move: an insert compares its key with the one before and appends it; a lookup is
// a binary search; an iterator reads the entries in place, without copying or sorting them,
// while more are appended. RocksDB's skiplist compared each record's key with a neighbour at
// each level it linked (docs/decisions.md "Write path"). Should a key ever come out of order,
// the memtable still answers as a sorted one, by sorting a copy for each read (slowly).
//
// Requirements as IdMemTableFactory's: a bytewise comparator and one inserting thread.
class LogMemTableFactory final : public rocksdb::MemTableRepFactory {
 public:
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& compare,
                                          rocksdb::Allocator* allocator,
                                          const rocksdb::SliceTransform* prefix_extractor,
                                          rocksdb::Logger* logger) override;
  const char* Name() const override { return "OrgledgerLogMemTableFactory"; }
};

// The keys a thread is about to overwrite in an in-place family, in the order its next write
// batch puts them (Store::append's ledger entries), declared for as long as this object lives.
// While the memtable overwrites one, it asks the memory for what the keys some places further on
// will read: their slots in its table, then their entries. Each aggregate's overwrite otherwise
// waited on both (the writer thread's largest item under bulk load once the ids' inserts were
// prefetched). Only a hint: a key written out of that order is found as any other, and nothing
// is looked ahead after it. Each key is hashed once, when declared, as the memtable hashes it.
class KeysAhead {
 public:
  explicit KeysAhead(std::span<const std::pair<std::string, std::string>> writes);
  ~KeysAhead();
  KeysAhead(const KeysAhead&) = delete;
  KeysAhead& operator=(const KeysAhead&) = delete;

  struct Declared {
    std::string_view key;
    size_t hash;
  };

  // The declaration of this thread, or nullptr.
  static KeysAhead* of_this_thread();
  // Moves past `user_key` when it is the next key declared, and returns its hash; nullopt when
  // it is not.
  std::optional<size_t> pass(std::string_view user_key);
  // The key `distance` places after the one passed last, when there is one.
  std::optional<Declared> ahead(size_t distance) const;

 private:
  std::span<const std::pair<std::string, std::string>> writes_;
  std::vector<size_t> hashes_;  // of writes_' keys
  size_t passed_ = 0;
  KeysAhead* outer_;  // the thread's declaration before this one
};

// True when the memtables work with the RocksDB this program runs with: a point lookup reads
// RocksDB's LookupKey, whose accessors are not in its public headers (see id_memtable.cpp). Runs
// puts, gets, overwrites, deletes, scans and a flush once in each memtable, in memory; the
// result is kept.
bool id_memtable_works();

// The factory for the event_ids family: IdMemTableFactory when id_memtable_works(), else
// RocksDB's hash link-list memtable (same answers, slower flushes).
std::shared_ptr<rocksdb::MemTableRepFactory> event_ids_memtable_factory();

// The factory for the ledger family: an in-place IdMemTableFactory when id_memtable_works()
// (the family must then set inplace_update_support), else RocksDB's vector memtable (which
// must not: it would sort itself for every overwrite).
std::shared_ptr<rocksdb::MemTableRepFactory> ledger_memtable_factory();

// The factory for the events family: LogMemTableFactory when id_memtable_works(), else
// RocksDB's skiplist.
std::shared_ptr<rocksdb::MemTableRepFactory> events_memtable_factory();

}  // namespace orgledger
