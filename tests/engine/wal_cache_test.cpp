// RocksDB's write-ahead log leaves the page cache once it is durable (engine/wal_cache.h).
#include "engine/wal_cache.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "engine/engine.h"
#include "tests/support/events.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

// Whether each page of the file at `path` is in the page cache (mincore over a mapping of it,
// which reads nothing in).
std::vector<bool> resident_pages(const std::filesystem::path& path, size_t page) {
  const size_t size = std::filesystem::file_size(path);
  std::vector<bool> resident;
  if (size == 0) return resident;
  const int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  REQUIRE(mapped != MAP_FAILED);
  std::vector<unsigned char> vector((size + page - 1) / page);
  const int asked = ::mincore(mapped, size, vector.data());
  ::munmap(mapped, size);
  REQUIRE(asked == 0);
  for (unsigned char bits : vector) resident.push_back((bits & 1) != 0);
  return resident;
}

// The store's write-ahead log files.
std::vector<std::filesystem::path> wal_files(const std::filesystem::path& directory) {
  std::vector<std::filesystem::path> found;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (is_wal_file(entry.path().string())) found.push_back(entry.path());
  }
  return found;
}

}  // namespace

TEST_CASE("write-ahead log: RocksDB's log files are told apart from every other file") {
  CHECK(is_wal_file("000012.log"));
  CHECK(is_wal_file("/var/lib/orgledger/000012.log"));
  CHECK(is_wal_file("/data/7.log"));
  CHECK_FALSE(is_wal_file("LOG"));
  CHECK_FALSE(is_wal_file("/data/LOG.old.1732766400000000"));
  CHECK_FALSE(is_wal_file("/data/MANIFEST-000005"));
  CHECK_FALSE(is_wal_file("/data/000011.sst"));
  CHECK_FALSE(is_wal_file("/data/.log"));
  CHECK_FALSE(is_wal_file("/data/x12.log"));
  CHECK_FALSE(is_wal_file("/data/12.log.tmp"));
  CHECK_FALSE(is_wal_file("/logs.d/OPTIONS-000007"));
}

TEST_CASE(
    "write-ahead log: once appends are durable, the log's full pages are out of the page cache, "
    "and the page the next append goes to is not") {
  TempDir dir;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  constexpr int kRequests = 40;
  constexpr int kPerRequest = 10;
  {
    auto engine = Engine::open(dir.str(), EngineOptions{});
    REQUIRE(engine.is_ok());
    // Every append is a synced write of RocksDB's log.
    for (int request = 0; request < kRequests; ++request) {
      std::vector<AppendInput> inputs;
      for (int i = 0; i < kPerRequest; ++i) {
        const int n = request * kPerRequest + i;
        AppendInput input;
        input.event_id[0] = 0xa1;
        input.event_id[14] = static_cast<uint8_t>(n >> 8);
        input.event_id[15] = static_cast<uint8_t>(n);
        input.event =
            account_created(fmt::format("{:012d}", 100000 + n), fmt::format("a{}@example.com", n),
                            "A", "", "2026-10-01T00:00:00Z");
        inputs.push_back(std::move(input));
      }
      AppendOutcome outcome = (*engine)->append(std::move(inputs), kOperator);
      REQUIRE_OK(outcome.status);
    }

    // Nothing was flushed yet: one log holds all of it, while the store is open.
    const std::vector<std::filesystem::path> logs = wal_files(dir.path());
    REQUIRE(logs.size() == 1);
    const size_t size = std::filesystem::file_size(logs[0]);
    INFO("log " << logs[0] << ", " << size << " bytes, pages of " << page);
    REQUIRE(size > 8 * page);
    const std::vector<bool> resident = resident_pages(logs[0], page);
    const size_t full_pages = size / page;
    size_t still_cached = 0;
    for (size_t i = 0; i < full_pages; ++i) still_cached += resident[i] ? 1 : 0;
    CHECK(still_cached == 0);
    if (size % page != 0) CHECK(resident[full_pages]);
  }
  // Out of the cache, still on the disk: the store opens with every event.
  auto reopened = Engine::open(dir.str(), EngineOptions{});
  REQUIRE(reopened.is_ok());
  CHECK((*reopened)->store().head()->position == kRequests * kPerRequest);
}
