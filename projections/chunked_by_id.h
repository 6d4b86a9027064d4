// A map from ids to values, in id order, kept as a few sorted vectors ("chunks") of at most
// kChunk entries each: a lookup is two binary searches over contiguous entries instead of a walk
// down tree nodes spread over the heap, and an insert moves at most one chunk's entries (a full
// chunk splits in two). The accounts of a usage aggregate live in one (projections/registry.h):
// they are looked up for every usage event and grow once per account, type and month.
//
// Within a chunk, the search runs over integers: the ids of a chunk share a prefix (the accounts
// of one organization often share most of their digits), and beside the entries each chunk keeps
// the next 8 bytes of every id after that prefix, as a big-endian integer. A lookup reads a few
// cache lines of those instead of one entry and a string comparison per step, and compares whole
// ids only among the few whose 8 bytes are equal.
//
// The order is std::string's. emplace and erase invalidate iterators.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace orgledger {

template <typename T>
class ChunkedById {
 public:
  using value_type = std::pair<std::string, T>;
  static constexpr size_t kChunk = 256;

 private:
  // Every id in `entries` starts with the first `common` bytes of the first one, and keys[i] is
  // key_of(entries[i].first, common). `common` may be shorter than the longest shared prefix.
  struct Chunk {
    std::vector<value_type> entries;
    std::vector<uint64_t> keys;
    size_t common = 0;
  };

  template <bool kConst>
  class Iterator {
    using Chunks = std::conditional_t<kConst, const std::vector<Chunk>, std::vector<Chunk>>;

   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = ChunkedById::value_type;
    using difference_type = std::ptrdiff_t;
    using reference = std::conditional_t<kConst, const value_type&, value_type&>;
    using pointer = std::conditional_t<kConst, const value_type*, value_type*>;

    Iterator() = default;
    Iterator(Chunks* chunks, size_t chunk, size_t index)
        : chunks_(chunks), chunk_(chunk), index_(index) {}

    reference operator*() const { return (*chunks_)[chunk_].entries[index_]; }
    pointer operator->() const { return &**this; }
    Iterator& operator++() {
      if (++index_ == (*chunks_)[chunk_].entries.size()) {
        ++chunk_;
        index_ = 0;
      }
      return *this;
    }
    Iterator operator++(int) {
      Iterator before = *this;
      ++*this;
      return before;
    }
    bool operator==(const Iterator& other) const {
      return chunk_ == other.chunk_ && index_ == other.index_;
    }

   private:
    friend class ChunkedById;
    Chunks* chunks_ = nullptr;  // the map's
    size_t chunk_ = 0;
    size_t index_ = 0;
  };

 public:
  using iterator = Iterator<false>;
  using const_iterator = Iterator<true>;

  iterator find(std::string_view id) {
    const auto [chunk, at] = locate(id);
    return iterator(&chunks_, chunk, at);
  }
  const_iterator find(std::string_view id) const {
    const auto [chunk, at] = locate(id);
    return const_iterator(&chunks_, chunk, at);
  }

  // Inserts (id, value) unless `id` is present; answers the entry and whether it was inserted.
  std::pair<iterator, bool> emplace(std::string id, T value) {
    size_t chunk = 0;
    if (chunks_.empty()) {
      chunks_.emplace_back();
    } else {
      chunk = chunk_of(id);
    }
    Chunk& into = chunks_[chunk];
    size_t at = lower_bound(into, id);
    if (at < into.entries.size() && into.entries[at].first == id) {
      return {iterator(&chunks_, chunk, at), false};
    }
    const auto offset = static_cast<std::ptrdiff_t>(at);
    // An id that does not share the chunk's prefix goes first or last, and the prefix shrinks;
    // the first id of a new chunk sets it.
    const bool shares = !into.entries.empty() && shares_prefix(into, id);
    into.entries.emplace(into.entries.begin() + offset, std::move(id), std::move(value));
    if (shares) {
      into.keys.insert(into.keys.begin() + offset, key_of(into.entries[at].first, into.common));
    } else {
      rekey(into);
    }
    ++size_;
    if (into.entries.size() > kChunk) {
      // The upper half moves to a new chunk after this one.
      const size_t half = into.entries.size() / 2;
      const auto middle = static_cast<std::ptrdiff_t>(half);
      Chunk upper;
      upper.entries.assign(std::make_move_iterator(into.entries.begin() + middle),
                           std::make_move_iterator(into.entries.end()));
      into.entries.erase(into.entries.begin() + middle, into.entries.end());
      rekey(into);
      rekey(upper);
      chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(chunk) + 1, std::move(upper));
      if (at >= half) {
        ++chunk;
        at -= half;
      }
    }
    return {iterator(&chunks_, chunk, at), true};
  }

  void erase(iterator position) {
    Chunk& chunk = chunks_[position.chunk_];
    const auto offset = static_cast<std::ptrdiff_t>(position.index_);
    chunk.entries.erase(chunk.entries.begin() + offset);
    chunk.keys.erase(chunk.keys.begin() + offset);  // the rest still share the prefix
    --size_;
    if (chunk.entries.empty())
      chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(position.chunk_));
  }

  iterator begin() { return iterator(&chunks_, 0, 0); }
  iterator end() { return iterator(&chunks_, chunks_.size(), 0); }
  const_iterator begin() const { return const_iterator(&chunks_, 0, 0); }
  const_iterator end() const { return const_iterator(&chunks_, chunks_.size(), 0); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  // (chunk, index) of `id`, or those of end() when it is absent.
  std::pair<size_t, size_t> locate(std::string_view id) const {
    if (chunks_.empty()) return {0, 0};
    const size_t chunk = chunk_of(id);
    const Chunk& in = chunks_[chunk];
    const size_t at = lower_bound(in, id);
    if (at == in.entries.size() || in.entries[at].first != id) return {chunks_.size(), 0};
    return {chunk, at};
  }
  // The chunk that holds `id`, or where it goes: the last chunk whose first id is not after it
  // (the first chunk for an id before every other). No chunk is ever empty.
  size_t chunk_of(std::string_view id) const {
    auto after = std::upper_bound(chunks_.begin(), chunks_.end(), id,
                                  [](std::string_view key, const Chunk& chunk) {
                                    return key < std::string_view(chunk.entries.front().first);
                                  });
    return after == chunks_.begin() ? 0 : static_cast<size_t>(after - chunks_.begin()) - 1;
  }
  // The 8 bytes of `id` from `from` on, big-endian, zero-padded. Among ids that share their first
  // `from` bytes, a smaller key is a smaller id; equal keys are ordered by the whole ids.
  static uint64_t key_of(std::string_view id, size_t from) {
    uint64_t key = 0;
    for (size_t i = from; i < from + 8; ++i) {
      key = (key << 8) | (i < id.size() ? static_cast<uint8_t>(id[i]) : 0u);
    }
    return key;
  }
  static bool shares_prefix(const Chunk& chunk, std::string_view id) {
    return id.size() >= chunk.common &&
           id.compare(0, chunk.common, chunk.entries.front().first, 0, chunk.common) == 0;
  }
  // Sets the chunk's prefix to the one its first and last ids share (every id between them
  // shares it too), and its keys to match.
  static void rekey(Chunk& chunk) {
    const std::string& first = chunk.entries.front().first;
    const std::string& last = chunk.entries.back().first;
    const size_t limit = std::min(first.size(), last.size());
    size_t common = 0;
    while (common < limit && first[common] == last[common]) ++common;
    chunk.common = common;
    chunk.keys.resize(chunk.entries.size());
    for (size_t i = 0; i < chunk.entries.size(); ++i) {
      chunk.keys[i] = key_of(chunk.entries[i].first, common);
    }
  }
  // The index of the first entry of `chunk` not before `id`.
  static size_t lower_bound(const Chunk& chunk, std::string_view id) {
    if (chunk.entries.empty()) return 0;
    if (!shares_prefix(chunk, id)) {
      // Not after the first id, or after the last: before or after every one of them.
      return id < std::string_view(chunk.entries.front().first) ? 0 : chunk.entries.size();
    }
    const uint64_t key = key_of(id, chunk.common);
    const auto first = std::lower_bound(chunk.keys.begin(), chunk.keys.end(), key);
    const auto last = std::upper_bound(first, chunk.keys.end(), key);
    const auto from = chunk.entries.begin() + (first - chunk.keys.begin());
    const auto to = chunk.entries.begin() + (last - chunk.keys.begin());
    const auto at = std::lower_bound(from, to, id, [](const value_type& entry, std::string_view k) {
      return std::string_view(entry.first) < k;
    });
    return static_cast<size_t>(at - chunk.entries.begin());
  }

  std::vector<Chunk> chunks_;
  size_t size_ = 0;
};

}  // namespace orgledger
