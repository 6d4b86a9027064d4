// IndexedMap over HashIndex (projections/hash_index.h): against a plain std::map, with hashes
// made to collide, runs that wrap around the table's end, and erasures in between.
#include "projections/hash_index.h"

#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>

#include "projections/registry.h"
#include "tests/support/seed.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

// A hash with few values, most of them near the top of the range: long runs of equal hashes
// and of neighbouring home slots, which wrap around the end of the table.
struct CollidingHash {
  size_t operator()(std::string_view key) const {
    const size_t small = std::hash<std::string_view>()(key) % 7;
    return small == 0 ? 0 : ~size_t{0} - small;  // 0 becomes 1: a hash of 0 marks a free slot
  }
};

template <typename Hash>
using Map = IndexedMap<std::string, int, std::less<>, std::string_view, Hash, IdEq>;

// Every key of `model` is found through each of the map's lookups, and `absent` through none.
template <typename Hash>
void check_same(const Map<Hash>& map, const std::map<std::string, int>& model,
                const std::string& absent) {
  REQUIRE(map.size() == model.size());
  for (const auto& [key, value] : model) {
    auto found = map.find(key);
    REQUIRE(found != map.end());
    CHECK(found->second == value);
    const uint64_t hashed = map.hash(key);
    auto staged = map.find_hashed(key, hashed, map.candidate(hashed));
    REQUIRE(staged == found);
  }
  CHECK(map.find(absent) == map.end());
  CHECK_FALSE(map.contains(absent));
  const uint64_t hashed = map.hash(absent);
  CHECK(map.find_hashed(absent, hashed, map.candidate(hashed)) == map.end());
  // In key order, as the model.
  auto it = map.begin();
  for (const auto& [key, value] : model) {
    REQUIRE(it != map.end());
    CHECK(it->first == key);
    ++it;
  }
}

template <typename Hash>
void random_model_run(uint64_t seed, int keys) {
  std::mt19937_64 random(seed);
  Map<Hash> map;
  std::map<std::string, int> model;
  for (int step = 0; step < 20'000; ++step) {
    const std::string key = "k" + std::to_string(random() % keys);
    const int action = static_cast<int>(random() % 3);
    if (action < 2) {
      const int value = static_cast<int>(random() % 1000);
      const bool added = map.emplace(key, value).second;
      CHECK_MESSAGE(added == model.emplace(key, value).second, "step ", step);
    } else if (auto it = map.find(key); it != map.end()) {
      map.erase(it);
      model.erase(key);
    } else {
      CHECK_MESSAGE(!model.contains(key), "step ", step);
    }
    if (step % 997 == 0) check_same(map, model, "absent");
  }
  check_same(map, model, "absent");
  // A copy indexes its own entries; a move keeps them.
  Map<Hash> copy = map;
  map.emplace("only-in-the-original", 1);
  check_same(copy, model, "only-in-the-original");
  Map<Hash> moved = std::move(copy);
  check_same(moved, model, "only-in-the-original");
}

}  // namespace

TEST_CASE("hash index: finds, stages and erases as a std::map, with and without collisions") {
  const uint64_t seed = printed_seed("property");
  SUBCASE("Abseil's hash of the ids") { random_model_run<IdHash>(seed, 3000); }
  SUBCASE("seven hashes, at the top of the table") { random_model_run<CollidingHash>(seed, 300); }
}

TEST_CASE("hash index: the candidate of a hash is an entry of that hash, read without its key") {
  Map<CollidingHash> map;
  for (int i = 0; i < 50; ++i) map.emplace("k" + std::to_string(i), i);
  for (int i = 0; i < 50; ++i) {
    const std::string key = "k" + std::to_string(i);
    const uint64_t hashed = map.hash(key);
    auto candidate = map.candidate(hashed);
    REQUIRE(candidate != map.end());
    // With 7 hashes for 50 keys the candidate is often another key's: find_hashed still finds.
    CHECK(map.hash(candidate->first) == hashed);
    CHECK(map.find_hashed(key, hashed, candidate)->second == i);
  }
  Map<CollidingHash> empty;
  CHECK(empty.candidate(empty.hash("k1")) == empty.end());
  CHECK(empty.find("k1") == empty.end());
}
