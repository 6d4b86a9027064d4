// ChunkedById against std::map: the same answers, the same order, through many chunk splits and
// chunks emptied. Seeded; the seed is printed, and ORGLEDGER_SEED=<n> reruns one.
#include "projections/chunked_by_id.h"

#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/support/seed.h"

using namespace orgledger;
using orgledger::testing::property_seed;

namespace {

using Map = ChunkedById<int64_t>;

std::vector<std::pair<std::string, int64_t>> contents(const Map& map) {
  std::vector<std::pair<std::string, int64_t>> entries;
  for (const auto& [id, value] : map) {
    entries.emplace_back(id, value);
    if (entries.size() > map.size()) break;  // iteration must end after size() entries
  }
  return entries;
}
std::vector<std::pair<std::string, int64_t>> contents(const std::map<std::string, int64_t>& map) {
  return {map.begin(), map.end()};
}

}  // namespace

TEST_CASE("chunked map: inserts in any order iterate in id order, across chunk splits") {
  for (const char* order : {"ascending", "descending", "interleaved"}) {
    INFO("order: ", order);
    const int n = static_cast<int>(Map::kChunk) * 9 + 7;
    Map map;
    std::map<std::string, int64_t> expected;
    for (int i = 0; i < n; ++i) {
      int k = i;
      if (std::string(order) == "descending") k = n - 1 - i;
      if (std::string(order) == "interleaved")
        k = (i * 7919) % n;  // 7919 is prime, n is not a multiple
      const std::string id = std::to_string(100000000000 + k);
      const auto [at, inserted] = map.emplace(id, k);
      CHECK(inserted);
      CHECK(at->first == id);
      CHECK(at->second == k);
      expected.emplace(id, k);
    }
    CHECK(map.size() == expected.size());
    CHECK(contents(map) == contents(expected));
    const auto [again, inserted] = map.emplace("100000000005", -1);
    CHECK_FALSE(inserted);
    CHECK(again->second == 5);
  }
}

TEST_CASE("chunked map: random emplace, update, erase and find agree with std::map") {
  const uint64_t seed = property_seed();
  MESSAGE("property seed ", seed, " (rerun with ORGLEDGER_SEED=", seed, ")");
  std::mt19937_64 random(seed);
  Map map;
  std::map<std::string, int64_t> expected;
  // Ids of 1 to 20 characters over a small alphabet, so that prefixes, equal 8-byte runs and
  // repeats are common; bytes above 0x7f, which order after ASCII; and zero bytes, which tie
  // with the padding of a shorter id's 8-byte prefix.
  auto random_id = [&] {
    static const std::string alphabet =
        std::string("0129az") + static_cast<char>(0xe9) + std::string(1, '\0');
    std::string id(1 + random() % 20, '0');
    for (char& c : id) c = alphabet[random() % alphabet.size()];
    return id;
  };
  for (int step = 0; step < 60000; ++step) {
    const std::string id = random_id();
    const uint64_t op = random() % 10;
    if (op < 5) {
      const int64_t value = static_cast<int64_t>(random() % 1000);
      const auto [at, inserted] = map.emplace(id, value);
      const auto [want, want_inserted] = expected.emplace(id, value);
      REQUIRE(inserted == want_inserted);
      CHECK(at->first == id);
      CHECK(at->second == want->second);
      at->second += 1;  // an update through the answered position
      want->second += 1;
    } else if (op < 8) {
      auto at = map.find(id);
      auto want = expected.find(id);
      REQUIRE((at == map.end()) == (want == expected.end()));
      if (at != map.end()) {
        map.erase(at);
        expected.erase(want);
      }
    } else {
      const Map& read = map;
      auto at = read.find(id);
      auto want = expected.find(id);
      REQUIRE((at == read.end()) == (want == expected.end()));
      if (at != read.end()) CHECK(at->second == want->second);
    }
    REQUIRE(map.size() == expected.size());
    CHECK(map.empty() == expected.empty());
    if (step % 997 == 0) REQUIRE(contents(map) == contents(expected));
  }
  CHECK(contents(map) == contents(expected));
  // Emptied entry by entry, in id order and from the middle, down to nothing.
  while (!expected.empty()) {
    auto want = std::next(expected.begin(), static_cast<std::ptrdiff_t>(expected.size() / 2));
    auto at = map.find(want->first);
    REQUIRE(at != map.end());
    map.erase(at);
    expected.erase(want);
    REQUIRE(map.size() == expected.size());
    if (expected.size() % 61 == 0) REQUIRE(contents(map) == contents(expected));
  }
  CHECK(map.begin() == map.end());
  CHECK(map.find("0") == map.end());
}
