// A map from ids to values, in id order, kept as a few sorted vectors ("chunks") of at most
// kChunk entries each: a lookup is two binary searches over contiguous entries instead of a walk
// down tree nodes spread over the heap, and an insert moves at most one chunk's entries (a full
// chunk splits in two). The accounts of a usage aggregate live in one (projections/registry.h):
// they are looked up for every usage event and grow once per account, type and month.
//
// The order is std::string's. emplace and erase invalidate iterators.
#pragma once

#include <algorithm>
#include <cstddef>
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
  using Chunk = std::vector<value_type>;

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

    reference operator*() const { return (*chunks_)[chunk_][index_]; }
    pointer operator->() const { return &**this; }
    Iterator& operator++() {
      if (++index_ == (*chunks_)[chunk_].size()) {
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
    size_t at = lower_bound(chunks_[chunk], id);
    if (at < chunks_[chunk].size() && chunks_[chunk][at].first == id) {
      return {iterator(&chunks_, chunk, at), false};
    }
    Chunk& into = chunks_[chunk];
    into.emplace(into.begin() + static_cast<std::ptrdiff_t>(at), std::move(id), std::move(value));
    ++size_;
    if (into.size() > kChunk) {
      // The upper half moves to a new chunk after this one.
      const size_t half = into.size() / 2;
      Chunk upper(std::make_move_iterator(into.begin() + static_cast<std::ptrdiff_t>(half)),
                  std::make_move_iterator(into.end()));
      into.erase(into.begin() + static_cast<std::ptrdiff_t>(half), into.end());
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
    chunk.erase(chunk.begin() + static_cast<std::ptrdiff_t>(position.index_));
    --size_;
    if (chunk.empty())
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
    const size_t at = lower_bound(chunks_[chunk], id);
    if (at == chunks_[chunk].size() || chunks_[chunk][at].first != id) return {chunks_.size(), 0};
    return {chunk, at};
  }
  // The chunk that holds `id`, or where it goes: the last chunk whose first id is not after it
  // (the first chunk for an id before every other). No chunk is ever empty.
  size_t chunk_of(std::string_view id) const {
    auto after = std::upper_bound(chunks_.begin(), chunks_.end(), id,
                                  [](std::string_view key, const Chunk& chunk) {
                                    return key < std::string_view(chunk.front().first);
                                  });
    return after == chunks_.begin() ? 0 : static_cast<size_t>(after - chunks_.begin()) - 1;
  }
  static size_t lower_bound(const Chunk& chunk, std::string_view id) {
    auto at = std::lower_bound(chunk.begin(), chunk.end(), id,
                               [](const value_type& entry, std::string_view key) {
                                 return std::string_view(entry.first) < key;
                               });
    return static_cast<size_t>(at - chunk.begin());
  }

  std::vector<Chunk> chunks_;
  size_t size_ = 0;
};

}  // namespace orgledger
