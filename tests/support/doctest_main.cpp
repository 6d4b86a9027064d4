// The main of every doctest binary. Besides running the cases, it fails a run whose filters
// select no test case: ctest runs each case alone through `--test-case=NAME`, and a name that
// does not survive the trip (CMake splits a list at ';', so a case named "a; b" became the tests
// "a" and " b") would otherwise pass without running anything.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

namespace {

struct RunCount {
  bool ended = false;
  unsigned selected = 0;  // test cases that passed the filters
};
RunCount run_count;

class CountSelected : public doctest::IReporter {
 public:
  explicit CountSelected(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    run_count.ended = true;
    run_count.selected = stats.numTestCasesPassingFilters;
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("count_selected", 1, CountSelected);

}  // namespace

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit() || result != 0) return result;
  if (run_count.ended && run_count.selected == 0) {
    std::fprintf(stderr, "error: no test case matches the filters given: nothing ran\n");
    return 1;
  }
  return result;
}
