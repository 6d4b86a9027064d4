#include "cli/common.h"

#include <cstdio>
#include <limits>

#include "projections/values.h"
#include "replay/fold.h"

namespace orgledger::cli {

int fail(const Status& status) {
  std::fprintf(stderr, "error: %s\n", status.to_string().c_str());
  return 1;
}

Status invalid(std::string message) {
  return Status(Code::kInvalidArgument, Reason::kInvalidInput, std::move(message));
}

int print(const Result<std::string>& text) {
  if (!text.is_ok()) return fail(text.status());
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

Result<std::unique_ptr<Store>> open_read_only(const std::string& data) {
  return Store::open(data, StoreOptions{.read_only = true, .create_if_missing = false});
}

Result<SourceHandle> open_source(const Location& location) {
  SourceHandle handle;
  if (location.connect.empty()) {
    auto store = open_read_only(location.data);
    if (!store.is_ok()) return store.status();
    handle.store = std::move(*store);
    return handle;
  }
  auto client = Client::connect(location.connect);
  if (!client.is_ok()) return client.status();
  handle.client = std::move(*client);
  handle.remote = std::make_unique<RemoteRecordSource>(*handle.client);
  return handle;
}

Result<std::unique_ptr<Client>> connect(const Location& location) {
  return Client::connect(location.connect);
}

}  // namespace orgledger::cli
