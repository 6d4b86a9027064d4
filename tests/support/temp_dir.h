// A fresh directory under the system temp directory, removed with everything in it on scope exit.
#pragma once

#include <filesystem>
#include <string>

namespace orgledger::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace orgledger::testing
