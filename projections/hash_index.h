// A hash index of a map's entries whose lookup can be split into stages, each asking the memory
// for what the next one reads (IndexedMap, registry.h; UsagePrefetch, billing.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace orgledger {

// Open addressing with linear probing. Each slot holds a key's full hash and the iterator of its
// entry in the map (16 bytes for a node-based map: four slots to a cache line); a lookup compares
// the stored hashes and reads an entry's key only when they are equal. So, for a key's hash:
//   1. prefetch(hash) asks for the line of its home slot;
//   2. candidate(hash), once that line has arrived, gives the first entry with that hash without
//      reading any key, and the caller can ask for that entry;
//   3. the caller compares the entry's key (find does all three at once).
// Abseil's Swiss table keeps its control bytes and its slots apart, and its prefetch brings the
// probe's first slots, not the key's: a staged lookup still waited on the slot, then on the key.
//
// `Iterator` is the map's (stable until its entry is erased), `KeyOf` gives the View of an
// entry's key, `Hash` hashes a View, `Eq` compares two. The table is at most half full.
template <typename Iterator, typename View, typename Hash, typename Eq, typename KeyOf>
class HashIndex {
 public:
  HashIndex() = default;
  // Its iterators are one map's: a copy would point into another's.
  HashIndex(const HashIndex&) = delete;
  HashIndex& operator=(const HashIndex&) = delete;
  HashIndex(HashIndex&& other) noexcept
      : slots_(std::move(other.slots_)),
        size_(std::exchange(other.size_, 0)),
        shift_(std::exchange(other.shift_, 64)) {}
  HashIndex& operator=(HashIndex&& other) noexcept {
    slots_ = std::move(other.slots_);
    other.slots_.clear();
    size_ = std::exchange(other.size_, 0);
    shift_ = std::exchange(other.shift_, 64);
    return *this;
  }

  uint64_t hash(const View& key) const {
    const uint64_t hashed = static_cast<uint64_t>(Hash()(key));
    return hashed == kEmpty ? 1 : hashed;
  }

  // Adds `it` under `key`, which the index does not hold.
  void insert(const View& key, Iterator it) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    place(Slot{hash(key), it});
    ++size_;
  }
  // Removes `key`; false when the index does not hold it.
  bool erase(const View& key) {
    if (slots_.empty()) return false;
    const uint64_t hashed = hash(key);
    for (size_t at = home(hashed);; at = next(at)) {
      const Slot& slot = slots_[at];
      if (slot.hash == kEmpty) return false;
      if (slot.hash == hashed && Eq()(KeyOf()(slot.it), key)) {
        remove_at(at);
        return true;
      }
    }
  }
  // The entry of `key`, or nothing.
  const Iterator* find(const View& key) const { return find(key, hash(key)); }
  const Iterator* find(const View& key, uint64_t hashed) const {
    if (slots_.empty()) return nullptr;
    for (size_t at = home(hashed);; at = next(at)) {
      const Slot& slot = slots_[at];
      if (slot.hash == kEmpty) return nullptr;
      if (slot.hash == hashed && Eq()(KeyOf()(slot.it), key)) return &slot.it;
    }
  }

  // The staged lookup (above). candidate's entry may be another key's of the same hash: the
  // caller compares, and calls find when they differ.
  void prefetch(uint64_t hashed) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[home(hashed)]);
  }
  const Iterator* candidate(uint64_t hashed) const {
    if (slots_.empty()) return nullptr;
    for (size_t at = home(hashed);; at = next(at)) {
      const Slot& slot = slots_[at];
      if (slot.hash == kEmpty) return nullptr;
      if (slot.hash == hashed) return &slot.it;
    }
  }

  size_t size() const { return size_; }
  void clear() {
    slots_.clear();
    size_ = 0;
  }
  void reserve(size_t entries) {
    size_t wanted = 16;
    while (wanted < 2 * entries) wanted *= 2;
    if (wanted > slots_.size()) rehash(wanted);
  }

 private:
  static constexpr uint64_t kEmpty = 0;  // the hash of a free slot (hash() never gives it)
  struct Slot {
    uint64_t hash = kEmpty;
    Iterator it{};
  };

  // The top bits pick the home slot: they are the best mixed of Abseil's hash.
  size_t home(uint64_t hashed) const { return static_cast<size_t>(hashed >> shift_); }
  size_t next(size_t at) const { return (at + 1) & (slots_.size() - 1); }

  void place(Slot slot) {
    size_t at = home(slot.hash);
    while (slots_[at].hash != kEmpty) at = next(at);
    slots_[at] = std::move(slot);
  }
  // Backward-shift deletion: the slots after `at` in its run move up when their home allows,
  // so no probe ever stops early and no slot is left marked as deleted.
  void remove_at(size_t at) {
    for (size_t from = next(at);; from = next(from)) {
      if (slots_[from].hash == kEmpty) break;
      const size_t wanted = home(slots_[from].hash);
      // The entry at `from` may fill the hole at `at` when its home is not within (at, from].
      const bool home_after_hole =
          at <= from ? (at < wanted && wanted <= from) : (at < wanted || wanted <= from);
      if (home_after_hole) continue;
      slots_[at] = std::move(slots_[from]);
      at = from;
    }
    slots_[at] = Slot{};
    --size_;
  }
  void grow() { rehash(slots_.empty() ? 16 : 2 * slots_.size()); }
  void rehash(size_t count) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(count, Slot{});
    shift_ = 64;
    for (size_t n = count; n > 1; n >>= 1) --shift_;
    for (Slot& slot : old) {
      if (slot.hash != kEmpty) place(std::move(slot));
    }
  }

  std::vector<Slot> slots_;  // a power of two of them, or none
  size_t size_ = 0;
  int shift_ = 64;  // 64 - log2(slots_.size())
};

}  // namespace orgledger
