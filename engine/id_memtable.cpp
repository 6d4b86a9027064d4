#include "engine/id_memtable.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/sort/spreadsort/integer_sort.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orgledger {
namespace {

using rocksdb::MemTableRep;
using rocksdb::Slice;

// A memtable entry is varint32 length, internal key (user key + 8-byte sequence and type),
// varint32 length, value; a lookup's memtable key is the same without the value.
Slice internal_key_of(const char* entry) { return rocksdb::GetLengthPrefixedSlice(entry); }

std::string_view user_key_of(const char* entry) {
  const Slice internal = internal_key_of(entry);
  return std::string_view(internal.data(), internal.size() - 8);
}

// The first 8 bytes of a user key, big-endian, zero-padded: ordering by it, then by the full
// comparison on a tie, is the bytewise order, and it settles nearly every comparison of a sort
// without touching the entries.
uint64_t prefix_of(std::string_view user_key) {
  uint64_t prefix = 0;
  for (size_t i = 0; i < 8; ++i) {
    prefix = (prefix << 8) | (i < user_key.size() ? static_cast<uint8_t>(user_key[i]) : 0);
  }
  return prefix;
}

size_t hash_of(std::string_view user_key) { return std::hash<std::string_view>()(user_key); }

// RocksDB hands a point lookup over as a LookupKey, whose accessors live in a private header.
// Its layout has not changed since LevelDB: three pointers (the memtable key, the internal key,
// the end), then the bytes of short keys in place. This reads the memtable key after checking
// that the three pointers describe one well-formed key, and returns nullptr otherwise.
const char* memtable_key_of(const rocksdb::LookupKey& lookup) {
  const char* base = reinterpret_cast<const char*>(&lookup);
  const char* pointers[3];
  std::memcpy(pointers, base, sizeof pointers);
  const char* const start = pointers[0];
  const char* const key_start = pointers[1];
  const char* const end = pointers[2];
  if (key_start <= start || key_start - start > 5 || end - key_start < 8) return nullptr;
  // The key is in place, right after the pointers, unless it is too long for the 200 bytes.
  if (start != base + sizeof pointers && end - key_start <= 150) return nullptr;
  const Slice internal = rocksdb::GetLengthPrefixedSlice(start);
  if (internal.data() != key_start || internal.data() + internal.size() != end) return nullptr;
  return start;
}

// A memtable's entries in its order, shared with the memtable or copied from it.
struct SharedEntries {
  std::shared_ptr<const std::vector<const char*>> list;
  size_t size() const { return list->size(); }
  const char* operator[](size_t at) const { return (*list)[at]; }
};

// The entries of a LogMemTable, up to a count, read in place: its chunks never move, and an
// entry is never changed once counted.
struct ChunkedEntries {
  static constexpr size_t kShift = 12;  // 4,096 entries (32 KiB) to a chunk
  static constexpr size_t kMask = (size_t{1} << kShift) - 1;
  std::vector<const char* const*> chunks;
  size_t count = 0;
  size_t size() const { return count; }
  const char* operator[](size_t at) const { return chunks[at >> kShift][at & kMask]; }
};

// The first of `entries` at or after `internal_key` in the memtable's order, by binary search.
template <typename Entries>
size_t first_at_or_after(const Entries& entries, const MemTableRep::KeyComparator& compare,
                         const Slice& internal_key) {
  size_t low = 0, high = entries.size();
  while (low < high) {
    const size_t middle = low + (high - low) / 2;
    if (compare(entries[middle], internal_key) < 0) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return low;
}

// Iterates entries in the memtable's order: an IdMemTable's own once it is read-only (sorted at
// the first iteration, normally the flush), a sorted copy of one still being written, or a
// LogMemTable's in place.
template <typename Entries>
class SortedIterator final : public MemTableRep::Iterator {
 public:
  SortedIterator(const MemTableRep::KeyComparator& compare, Entries entries)
      : compare_(compare), entries_(std::move(entries)), at_(entries_.size()) {}

  bool Valid() const override { return at_ < entries_.size(); }
  const char* key() const override { return entries_[at_]; }
  void Next() override {
    ++at_;
    // A flush reads every entry in key order, and the ids' entries lie at random in the arena
    // (in arrival order): each read waited on memory. Asked for kAhead entries early, both of
    // an entry's lines (an id's entry is about 90 bytes).
    if (at_ + kAhead < entries_.size()) {
      const char* ahead = entries_[at_ + kAhead];
      __builtin_prefetch(ahead);
      __builtin_prefetch(ahead + 64);
    }
  }
  void Prev() override { at_ = at_ == 0 ? entries_.size() : at_ - 1; }
  void Seek(const Slice& internal_key, const char* /*memtable_key*/) override {
    at_ = first_at_or_after(entries_, compare_, internal_key);
  }
  void SeekForPrev(const Slice& internal_key, const char* /*memtable_key*/) override {
    // The last entry at or before the key: the one before the first entry after it.
    size_t low = 0, high = entries_.size();
    while (low < high) {
      const size_t middle = low + (high - low) / 2;
      if (compare_(entries_[middle], internal_key) <= 0) {
        low = middle + 1;
      } else {
        high = middle;
      }
    }
    at_ = low == 0 ? entries_.size() : low - 1;
  }
  void SeekToFirst() override { at_ = 0; }
  void SeekToLast() override { at_ = entries_.size() == 0 ? 0 : entries_.size() - 1; }

 private:
  static constexpr size_t kAhead = 8;

  const MemTableRep::KeyComparator& compare_;
  Entries entries_;
  size_t at_;
};

// The entries in the memtable's order: by user key, bytewise, then newest first (the sequence
// number and type, the internal key's last 8 bytes, descending). Compared directly, without
// RocksDB's comparator (a virtual call and two length decodings per comparison). The result is
// checked against the comparator in one pass, and sorted with it instead should the family's
// comparator not be bytewise.
std::vector<const char*> sorted(const MemTableRep::KeyComparator& compare,
                                const std::vector<const char*>& entries) {
  struct Keyed {
    uint64_t prefix;  // the first 8 bytes of the user key, big-endian, zero-padded
    const char* user_key;
    uint32_t size;     // of the user key
    uint64_t trailer;  // sequence number and type
    const char* entry;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(entries.size());
  for (const char* entry : entries) {
    const std::string_view user_key = user_key_of(entry);
    uint64_t trailer = 0;
    std::memcpy(&trailer, user_key.data() + user_key.size(), sizeof trailer);  // little-endian
    keyed.push_back(Keyed{prefix_of(user_key), user_key.data(),
                          static_cast<uint32_t>(user_key.size()), trailer, entry});
  }
  // A radix sort on the prefix (Boost's spreadsort), comparing whole keys only within the small
  // buckets it leaves: the ids are random, so their prefixes spread evenly.
  boost::sort::spreadsort::integer_sort(
      keyed.begin(), keyed.end(),
      [](const Keyed& each, unsigned shift) { return each.prefix >> shift; },
      [](const Keyed& a, const Keyed& b) {
        if (a.prefix != b.prefix) return a.prefix < b.prefix;
        const int order =
            std::string_view(a.user_key, a.size).compare(std::string_view(b.user_key, b.size));
        if (order != 0) return order < 0;
        return a.trailer > b.trailer;
      });
  std::vector<const char*> result;
  result.reserve(keyed.size());
  for (const Keyed& each : keyed) result.push_back(each.entry);
  for (size_t i = 1; i < result.size(); ++i) {
    if (compare(result[i - 1], result[i]) > 0) {
      std::sort(result.begin(), result.end(),
                [&compare](const char* a, const char* b) { return compare(a, b) < 0; });
      break;
    }
  }
  return result;
}

// The memtable key a point lookup asks for, or nullptr when RocksDB's LookupKey is not laid out
// as memtable_key_of expects: then `bad_lookup` is set (the self-test), or the program stops.
const char* lookup_target(const rocksdb::LookupKey& lookup, std::atomic<bool>* bad_lookup) {
  const char* target = memtable_key_of(lookup);
  if (target != nullptr) return target;
  if (bad_lookup != nullptr) {
    bad_lookup->store(true);
    return nullptr;
  }
  std::fputs("orgledger: RocksDB's LookupKey is not laid out as id_memtable.cpp expects\n", stderr);
  std::abort();
}

// Memory for the iterators RocksDB asks a memtable to place in its arena: it destroys such an
// iterator without freeing it, and the arena's type is private to RocksDB. While the memtable is
// written, the memory comes from the memtable's own allocator: it is counted in the memtable's
// size and freed with it, so however often a memtable that fills slowly is read (each record
// read over the socket scans the records' memtable), the reads cost no more than its write
// buffer. Once read-only, the memtable must not allocate (RocksDB's MarkReadOnly contract), and
// the memory is kept here until the memtable is destroyed, after its iterators: a read-only
// memtable is flushed and let go soon.
class IteratorMemory {
 public:
  // Memory for a `Iterator` built with `args`. `read_only` must not change meanwhile: the
  // caller holds the memtable's lock against MarkReadOnly.
  template <typename Iterator, typename... Args>
  MemTableRep::Iterator* place(MemTableRep& table, bool read_only, Args&&... args) {
    static_assert(alignof(Iterator) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    void* memory = nullptr;
    if (read_only) {
      std::lock_guard lock(mutex_);
      kept_.push_back(std::make_unique<std::byte[]>(sizeof(Iterator)));
      memory = kept_.back().get();
    } else {
      size_t space = sizeof(Iterator) + alignof(Iterator) - 1;
      char* bytes = nullptr;
      table.Allocate(space, &bytes);
      memory = bytes;
      memory = std::align(alignof(Iterator), sizeof(Iterator), memory, space);
    }
    return new (memory) Iterator(std::forward<Args>(args)...);
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<std::byte[]>> kept_;
};

class IdMemTable final : public MemTableRep {
 public:
  // `in_place`: RocksDB may overwrite values in place (the family's inplace_update_support),
  // and finds the entry to overwrite through GetDynamicPrefixIterator (see KeyIterator).
  IdMemTable(const KeyComparator& compare, rocksdb::Allocator* allocator,
             std::atomic<bool>* bad_lookup, bool in_place)
      : MemTableRep(allocator), compare_(compare), bad_lookup_(bad_lookup), in_place_(in_place) {
    slots_.resize(kInitialSlots);
    account_memory();
  }

  void Insert(rocksdb::KeyHandle handle) override {
    const char* entry = static_cast<const char*>(handle);
    const size_t hash = hash_of(user_key_of(entry));
    std::unique_lock lock(mutex_);
    entries_.push_back(entry);
    if (entries_.size() * 2 > slots_.size()) grow();
    // The slot's line is asked for now and written kPending inserts later, when it has arrived:
    // a memtable's table is tens of megabytes and each id lands at random in it, so placing at
    // once waited on memory for every insert (the writer thread's largest item under bulk load).
    __builtin_prefetch(&slots_[hash & (slots_.size() - 1)], /*rw=*/1);
    Slot& oldest = pending_[pending_next_];
    if (oldest.entry != nullptr) place(oldest);
    oldest = Slot{entry, hash};
    pending_next_ = (pending_next_ + 1) % kPending;
    account_memory();
  }

  bool Contains(const char* key) const override {
    const std::string_view user_key = user_key_of(key);
    std::shared_lock lock(mutex_);
    bool found = false;
    for_each_match(user_key, hash_of(user_key),
                   [&](const char* entry) { found = found || compare_(entry, key) == 0; });
    return found;
  }

  void MarkReadOnly() override {
    std::unique_lock lock(mutex_);
    read_only_.store(true, std::memory_order_release);
  }

  void Get(const rocksdb::LookupKey& lookup, void* callback_args,
           bool (*callback)(void* arg, const char* entry)) override {
    const char* target = lookup_target(lookup, bad_lookup_);
    if (target == nullptr) return;
    const std::string_view user_key = user_key_of(target);
    std::vector<const char*> matches;  // one entry per key unless an id was written again
    {
      std::shared_lock lock(mutex_);
      for_each_match(user_key, hash_of(user_key),
                     [&](const char* entry) { matches.push_back(entry); });
    }
    std::sort(matches.begin(), matches.end(),
              [this](const char* a, const char* b) { return compare_(a, b) < 0; });
    // As a skiplist would: from the first entry at or after the target (newest first), while
    // the callback asks for more.
    for (const char* entry : matches) {
      if (compare_(entry, target) < 0) continue;
      if (!callback(callback_args, entry)) return;
    }
  }

  size_t ApproximateMemoryUsage() override { return memory_.load(std::memory_order_relaxed); }

  // RocksDB asks for this iterator, without an arena, only to find the entry an in-place update
  // overwrites (MemTable::Update: a Seek to the user key at the new sequence number, then the
  // entry found). Anything else, and any family that does not update in place, gets the
  // ordinary sorted iterator.
  MemTableRep::Iterator* GetDynamicPrefixIterator(rocksdb::Arena* arena) override {
    if (!in_place_ || arena != nullptr) return GetIterator(arena);
    return new KeyIterator(*this);
  }

  MemTableRep::Iterator* GetIterator(rocksdb::Arena* arena) override {
    SharedEntries order;
    if (read_only_.load(std::memory_order_acquire)) {
      // Nothing is inserted any more: sorted once, without holding up lookups.
      std::lock_guard lock(sort_mutex_);
      if (!sorted_) {
        sorted_ = std::make_shared<const std::vector<const char*>>(sorted(compare_, entries_));
      }
      order.list = sorted_;
    } else {
      std::vector<const char*> copy;
      {
        std::shared_lock lock(mutex_);
        copy = entries_;
      }
      order.list = std::make_shared<const std::vector<const char*>>(sorted(compare_, copy));
    }
    using Iterator = SortedIterator<SharedEntries>;
    if (arena == nullptr) return new Iterator(compare_, std::move(order));
    std::shared_lock lock(mutex_);
    return iterator_memory_.place<Iterator>(*this, read_only_.load(std::memory_order_acquire),
                                            compare_, std::move(order));
  }

 private:
  struct Slot {
    const char* entry = nullptr;
    size_t hash = 0;
  };
  static constexpr size_t kInitialSlots = 256;  // grows by doubling; small, for tiny write buffers
  // How many inserts an entry waits, in pending_, before it is placed in slots_ (see Insert).
  static constexpr size_t kPending = 16;

  // The entries of one user key, in the memtable's order (newest first), without copying them:
  // Seek finds the first at or after the target, Next the one after it. Positions only within
  // that key; the calls a point lookup never makes leave it !Valid().
  class KeyIterator final : public MemTableRep::Iterator {
   public:
    explicit KeyIterator(const IdMemTable& table) : table_(table) {}

    bool Valid() const override { return at_ != nullptr; }
    const char* key() const override { return at_; }
    void Next() override {
      const Slice current = internal_key_of(at_);
      at_ = table_.first_of_key(
          current, [&](const char* entry) { return table_.compare_(entry, current) > 0; });
    }
    void Prev() override { at_ = nullptr; }
    void Seek(const Slice& internal_key, const char* /*memtable_key*/) override {
      const std::optional<size_t> declared_hash = table_.look_ahead(internal_key);
      at_ = table_.first_of_key(
          internal_key,
          [&](const char* entry) { return table_.compare_(entry, internal_key) >= 0; },
          declared_hash);
    }
    void SeekForPrev(const Slice& /*internal_key*/, const char* /*memtable_key*/) override {
      at_ = nullptr;
    }
    void SeekToFirst() override { at_ = nullptr; }
    void SeekToLast() override { at_ = nullptr; }

   private:
    const IdMemTable& table_;
    const char* at_ = nullptr;
  };

  // How far ahead look_ahead asks for a declared key's slot; its entry is asked for when it is
  // half as far, by then reading the slot from the cache.
  static constexpr size_t kSlotAhead = 16;

  // When this thread declared the keys it overwrites (KeysAhead) and `internal_key` is the next
  // of them: asks the memory for the slot of the key kSlotAhead places on, and for the entries
  // of the key kSlotAhead / 2 places on, and returns the hash of `internal_key`'s user key.
  // Called by the inserting thread only, the one thread that changes slots_: it reads them
  // without the lock.
  std::optional<size_t> look_ahead(const Slice& internal_key) const {
    KeysAhead* keys = KeysAhead::of_this_thread();
    if (keys == nullptr || internal_key.size() < 8) return std::nullopt;
    const std::optional<size_t> hash =
        keys->pass(std::string_view(internal_key.data(), internal_key.size() - 8));
    if (!hash) return std::nullopt;
    const size_t mask = slots_.size() - 1;
    if (std::optional<KeysAhead::Declared> far = keys->ahead(kSlotAhead)) {
      __builtin_prefetch(&slots_[far->hash & mask]);
    }
    if (std::optional<KeysAhead::Declared> near = keys->ahead(kSlotAhead / 2)) {
      for (size_t at = near->hash & mask; slots_[at].entry != nullptr; at = (at + 1) & mask) {
        if (slots_[at].hash == near->hash) __builtin_prefetch(slots_[at].entry);
      }
    }
    return hash;
  }

  // The first entry, in the memtable's order, of the user key of `internal_key` that `after`
  // accepts; nullptr when there is none. `known_hash`: that user key's hash, when the caller
  // has it.
  template <typename After>
  const char* first_of_key(const Slice& internal_key, After after,
                           std::optional<size_t> known_hash = std::nullopt) const {
    if (internal_key.size() < 8) return nullptr;
    const std::string_view user_key(internal_key.data(), internal_key.size() - 8);
    const size_t hash = known_hash ? *known_hash : hash_of(user_key);
    const char* first = nullptr;
    std::shared_lock lock(mutex_);
    for_each_match(user_key, hash, [&](const char* entry) {
      if (after(entry) && (first == nullptr || compare_(entry, first) < 0)) first = entry;
    });
    return first;
  }

  // Every entry of `user_key`: those in the table, then those not placed in it yet.
  template <typename Visit>
  void for_each_match(std::string_view user_key, size_t hash, Visit visit) const {
    auto visit_match = [&](const Slot& slot) {
      if (slot.hash == hash && user_key_of(slot.entry) == user_key) visit(slot.entry);
    };
    const size_t mask = slots_.size() - 1;
    for (size_t at = hash & mask; slots_[at].entry != nullptr; at = (at + 1) & mask) {
      visit_match(slots_[at]);
    }
    for (const Slot& slot : pending_) {
      if (slot.entry != nullptr) visit_match(slot);
    }
  }

  void place(Slot slot) {
    const size_t mask = slots_.size() - 1;
    size_t at = slot.hash & mask;
    while (slots_[at].entry != nullptr) at = (at + 1) & mask;
    slots_[at] = slot;
  }

  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& slot : old) {
      if (slot.entry != nullptr) place(slot);
    }
  }

  void account_memory() {
    memory_.store(slots_.capacity() * sizeof(Slot) + entries_.capacity() * sizeof(const char*),
                  std::memory_order_relaxed);
  }

  const KeyComparator& compare_;
  std::atomic<bool>* const bad_lookup_;  // set instead of aborting (the self-test), or nullptr
  const bool in_place_;
  mutable std::shared_mutex mutex_;
  std::vector<const char*> entries_;  // in arrival order
  std::vector<Slot> slots_;           // open addressing over entries_, at most half full
  // The entries inserted last, not in slots_ yet, oldest at pending_next_ (a ring, filled from
  // the start: an empty slot has no entry).
  std::array<Slot, kPending> pending_{};
  size_t pending_next_ = 0;
  std::atomic<bool> read_only_{false};
  std::mutex sort_mutex_;
  std::shared_ptr<const std::vector<const char*>> sorted_;  // once read-only and iterated
  std::atomic<size_t> memory_{0};
  IteratorMemory iterator_memory_;  // for the iterators placed in RocksDB's arena
};

// The records' memtable (LogMemTable in id_memtable.h): entries in arrival order, which is key
// order as long as each key is greater than the one before, in chunks that never move.
class LogMemTable final : public MemTableRep {
 public:
  LogMemTable(const KeyComparator& compare, rocksdb::Allocator* allocator,
              std::atomic<bool>* bad_lookup)
      : MemTableRep(allocator), compare_(compare), bad_lookup_(bad_lookup) {}

  // Called by one thread at a time (allow_concurrent_memtable_write is false), the only one
  // that changes chunks_: it reads them without the lock.
  void Insert(rocksdb::KeyHandle handle) override {
    const char* entry = static_cast<const char*>(handle);
    const size_t count = count_.load(std::memory_order_relaxed);
    // One comparison with the entry before, where a skiplist compares with a neighbour at each
    // of its levels. Out of order once, the memtable sorts a copy for every read from then on.
    if (count > 0 && in_order_.load(std::memory_order_relaxed) &&
        compare_(at(count - 1), entry) >= 0) {
      in_order_.store(false, std::memory_order_relaxed);
    }
    if ((count >> ChunkedEntries::kShift) == chunks_.size()) {
      auto chunk = std::make_unique<const char*[]>(size_t{1} << ChunkedEntries::kShift);
      std::unique_lock lock(mutex_);
      chunks_.push_back(std::move(chunk));
      memory_.store(chunks_.size() * (sizeof(const char*) << ChunkedEntries::kShift) +
                        chunks_.capacity() * sizeof chunks_[0],
                    std::memory_order_relaxed);
    }
    chunks_[count >> ChunkedEntries::kShift][count & ChunkedEntries::kMask] = entry;
    // Publishes the entry, and in_order_ as it stands with it.
    count_.store(count + 1, std::memory_order_release);
  }

  bool Contains(const char* key) const override {
    bool found = false;
    for_each_from(key, [&](const char* entry) {
      found = compare_(entry, key) == 0;
      return false;
    });
    return found;
  }

  void MarkReadOnly() override {
    std::unique_lock lock(mutex_);
    read_only_ = true;
  }

  void Get(const rocksdb::LookupKey& lookup, void* callback_args,
           bool (*callback)(void* arg, const char* entry)) override {
    const char* target = lookup_target(lookup, bad_lookup_);
    if (target == nullptr) return;
    // As a skiplist would: from the first entry at or after the target, while the callback asks
    // for more (it stops at another user key).
    for_each_from(target, [&](const char* entry) { return callback(callback_args, entry); });
  }

  size_t ApproximateMemoryUsage() override { return memory_.load(std::memory_order_relaxed); }

  MemTableRep::Iterator* GetIterator(rocksdb::Arena* arena) override {
    std::shared_lock lock(mutex_);
    ChunkedEntries entries = counted();
    if (in_order_.load(std::memory_order_acquire)) {
      using Iterator = SortedIterator<ChunkedEntries>;
      if (arena == nullptr) return new Iterator(compare_, std::move(entries));
      return iterator_memory_.place<Iterator>(*this, read_only_, compare_, std::move(entries));
    }
    // Out of order (never, for the records): a sorted copy.
    std::vector<const char*> copy;
    copy.reserve(entries.size());
    for (size_t at = 0; at < entries.size(); ++at) copy.push_back(entries[at]);
    SharedEntries order{std::make_shared<const std::vector<const char*>>(sorted(compare_, copy))};
    using Iterator = SortedIterator<SharedEntries>;
    if (arena == nullptr) return new Iterator(compare_, std::move(order));
    return iterator_memory_.place<Iterator>(*this, read_only_, compare_, std::move(order));
  }

 private:
  const char* at(size_t index) const {
    return chunks_[index >> ChunkedEntries::kShift][index & ChunkedEntries::kMask];
  }

  // The entries counted so far. With mutex_ held (shared): chunks_ does not grow meanwhile.
  ChunkedEntries counted() const {
    ChunkedEntries entries;
    entries.count = count_.load(std::memory_order_acquire);
    const size_t chunks = (entries.count + ChunkedEntries::kMask) >> ChunkedEntries::kShift;
    entries.chunks.reserve(chunks);
    for (size_t c = 0; c < chunks; ++c) entries.chunks.push_back(chunks_[c].get());
    return entries;
  }

  // Hands `visit` the entries from the first at or after `memtable_key` on, in order, while it
  // returns true.
  template <typename Visit>
  void for_each_from(const char* memtable_key, Visit visit) const {
    const Slice internal_key = internal_key_of(memtable_key);
    std::shared_lock lock(mutex_);
    ChunkedEntries entries = counted();
    if (in_order_.load(std::memory_order_acquire)) {
      for (size_t at = first_at_or_after(entries, compare_, internal_key); at < entries.size();
           ++at) {
        if (!visit(entries[at])) return;
      }
      return;
    }
    // Out of order (never, for the records): the entries of that user key, sorted.
    const std::string_view user_key = user_key_of(memtable_key);
    std::vector<const char*> matches;
    for (size_t at = 0; at < entries.size(); ++at) {
      if (user_key_of(entries[at]) == user_key) matches.push_back(entries[at]);
    }
    for (const char* entry : sorted(compare_, matches)) {
      if (compare_(entry, memtable_key) >= 0 && !visit(entry)) return;
    }
  }

  const KeyComparator& compare_;
  std::atomic<bool>* const bad_lookup_;  // set instead of aborting (the self-test), or nullptr
  mutable std::shared_mutex mutex_;      // held exclusively to add a chunk or mark read-only
  std::vector<std::unique_ptr<const char*[]>> chunks_;
  std::atomic<size_t> count_{0};      // entries in chunks_, in arrival order
  std::atomic<bool> in_order_{true};  // each entry after the one before, in key order
  bool read_only_ = false;            // guarded by mutex_
  std::atomic<size_t> memory_{0};
  IteratorMemory iterator_memory_;  // for the iterators placed in RocksDB's arena
};

// The three memtables the store uses: the event ids', the ledger's (in place) and the records'.
enum class Form { kIds, kInPlace, kLog };

class CheckedMemTableFactory final : public rocksdb::MemTableRepFactory {
 public:
  CheckedMemTableFactory(std::atomic<bool>* bad_lookup, Form form)
      : bad_lookup_(bad_lookup), form_(form) {}
  MemTableRep* CreateMemTableRep(const MemTableRep::KeyComparator& compare,
                                 rocksdb::Allocator* allocator, const rocksdb::SliceTransform*,
                                 rocksdb::Logger*) override {
    if (form_ == Form::kLog) return new LogMemTable(compare, allocator, bad_lookup_);
    return new IdMemTable(compare, allocator, bad_lookup_, form_ == Form::kInPlace);
  }
  const char* Name() const override { return "OrgledgerMemTableSelfTest"; }

 private:
  std::atomic<bool>* bad_lookup_;
  Form form_;
};

// One run of the self-test, in one form.
bool self_test(Form form) {
  std::unique_ptr<rocksdb::Env> env(rocksdb::NewMemEnv(rocksdb::Env::Default()));
  std::atomic<bool> bad_lookup{false};
  rocksdb::Options options;
  options.env = env.get();
  options.create_if_missing = true;
  options.allow_concurrent_memtable_write = false;
  options.inplace_update_support = form == Form::kInPlace;
  options.memtable_factory = std::make_shared<CheckedMemTableFactory>(&bad_lookup, form);
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, "/id-memtable-self-test", &raw).ok()) return false;
  std::unique_ptr<rocksdb::DB> db(raw);
  const rocksdb::WriteOptions write;
  auto expect = [&](const std::string& key, const char* value) {
    std::string found;
    const rocksdb::Status read = db->Get(rocksdb::ReadOptions(), key, &found);
    return value == nullptr ? read.IsNotFound() : read.ok() && found == value;
  };
  auto scan = [&](const std::string& expected) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    std::string keys;
    for (it->SeekToFirst(); it->Valid(); it->Next())
      keys += it->key().ToString() + "=" + it->value().ToString() + ";";
    return it->status().ok() && keys == expected;
  };
  // The records' form first takes keys in order, as the records come, and finds them in place.
  const std::string r1 = "record-00000001", r2 = "record-00000002", r3 = "record-00000003";
  const std::string records = form == Form::kLog ? r1 + "=p;" + r2 + "=q;" : "";
  bool ok = true;
  if (form == Form::kLog) {
    ok = db->Put(write, r1, "p").ok() && db->Put(write, r2, "q").ok() &&
         db->Delete(write, r3).ok() && expect(r1, "p") && expect(r2, "q") && expect(r3, nullptr) &&
         expect("record-0", nullptr) && expect("record-9", nullptr) && scan(records);
  }
  // Then keys in any order. Two share their first 8 bytes, so the sort's tie-break runs too. b
  // is overwritten with a value of the same size (in place, in that form), then a longer one (a
  // new entry).
  const std::string a = "id-memtable-0002", b = "id-memtable-0001", c = "other-key-000003";
  ok = ok && db->Put(write, a, "1").ok() && db->Put(write, b, "2").ok() &&
       db->Put(write, c, "3").ok() && db->Put(write, b, "4").ok() && db->Put(write, b, "45").ok() &&
       db->Put(write, b, "56").ok() && db->Delete(write, c).ok();
  for (int round = 0; round < 2 && ok; ++round) {  // in the memtable, then in a table file
    ok = expect(a, "1") && expect(b, "56") && expect(c, nullptr) && expect("absent", nullptr) &&
         scan(b + "=56;" + a + "=1;" + records);
    if (form == Form::kLog) ok = ok && expect(r1, "p") && expect(r2, "q") && expect(r3, nullptr);
    if (round == 0) ok = ok && db->Flush(rocksdb::FlushOptions()).ok();
  }
  db.reset();
  return ok && !bad_lookup.load();
}

thread_local KeysAhead* declared_keys = nullptr;

}  // namespace

KeysAhead::KeysAhead(std::span<const std::pair<std::string, std::string>> writes)
    : writes_(writes), outer_(declared_keys) {
  hashes_.reserve(writes_.size());
  for (const auto& [key, value] : writes_) hashes_.push_back(hash_of(key));
  declared_keys = this;
}

KeysAhead::~KeysAhead() { declared_keys = outer_; }

KeysAhead* KeysAhead::of_this_thread() { return declared_keys; }

std::optional<size_t> KeysAhead::pass(std::string_view user_key) {
  if (passed_ >= writes_.size() || writes_[passed_].first != user_key) return std::nullopt;
  return hashes_[passed_++];
}

std::optional<KeysAhead::Declared> KeysAhead::ahead(size_t distance) const {
  if (passed_ == 0 || passed_ - 1 + distance >= writes_.size()) return std::nullopt;
  const size_t at = passed_ - 1 + distance;
  return Declared{writes_[at].first, hashes_[at]};
}

MemTableRep* IdMemTableFactory::CreateMemTableRep(const MemTableRep::KeyComparator& compare,
                                                  rocksdb::Allocator* allocator,
                                                  const rocksdb::SliceTransform*,
                                                  rocksdb::Logger*) {
  return new IdMemTable(compare, allocator, nullptr, in_place_);
}

MemTableRep* LogMemTableFactory::CreateMemTableRep(const MemTableRep::KeyComparator& compare,
                                                   rocksdb::Allocator* allocator,
                                                   const rocksdb::SliceTransform*,
                                                   rocksdb::Logger*) {
  return new LogMemTable(compare, allocator, nullptr);
}

bool id_memtable_works() {
  static const bool works =
      self_test(Form::kIds) && self_test(Form::kInPlace) && self_test(Form::kLog);
  return works;
}

std::shared_ptr<rocksdb::MemTableRepFactory> event_ids_memtable_factory() {
  if (id_memtable_works()) return std::make_shared<IdMemTableFactory>();
  return std::shared_ptr<rocksdb::MemTableRepFactory>(rocksdb::NewHashLinkListRepFactory(1 << 20));
}

std::shared_ptr<rocksdb::MemTableRepFactory> ledger_memtable_factory() {
  if (id_memtable_works()) return std::make_shared<IdMemTableFactory>(/*in_place=*/true);
  return std::make_shared<rocksdb::VectorRepFactory>();
}

std::shared_ptr<rocksdb::MemTableRepFactory> events_memtable_factory() {
  if (id_memtable_works()) return std::make_shared<LogMemTableFactory>();
  return std::make_shared<rocksdb::SkipListFactory>();
}

}  // namespace orgledger
