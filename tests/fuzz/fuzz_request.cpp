// Fuzz target: one request frame to a live server (frame decoding and request handling). The
// server runs in this process over a store in a temp directory, holding the worked example.
// Each input is sent as the body of one frame on a connection signed in as the admin operator;
// whatever the bytes, the server must answer with a response that verifies (or close), must
// not crash, and must go on serving: a Hello on a fresh connection is answered afterwards.
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <thread>

#include "engine/authenticator.h"
#include "engine/client.h"
#include "engine/server.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/support/events.h"
#include "tests/support/secrets.h"

using namespace orgledger;

namespace {

class Fixture {
 public:
  Fixture() {
    spdlog::set_level(spdlog::level::err);  // a line per connection would drown libFuzzer's
    directory_ = std::filesystem::temp_directory_path() /
                 ("orgledger-fuzz-request-" + std::to_string(::getpid()));
    std::filesystem::remove_all(directory_);
    auto token = new_operator_token("fuzz", Role::kAdmin);
    FUZZ_CHECK(token.is_ok());
    token_ = token->token;
    EngineOptions engine_options;
    engine_options.checkpoint_every = 0;
    auto engine = Engine::open(directory_.string(), std::move(engine_options));
    FUZZ_CHECK(engine.is_ok());
    sequencer_ = std::make_unique<Sequencer>(std::move(*engine));
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.tokens.push_back(OperatorToken{"fuzz", Role::kAdmin, token_hash(token_)});
    options.idle_timeout = std::chrono::seconds(2);
    // Some inputs are sign-ins that fail. With the default policy, repeated failures for one
    // account id are answered after growing delays (up to 4 s) and then locked out: that only
    // slows the target down. The lockout has its own tests (tests/server); here it is off.
    options.lockout.slow_after = std::numeric_limits<int>::max();
    options.lockout.lock_after = std::numeric_limits<int>::max();
    auto server = Server::start(*sequencer_, options);
    FUZZ_CHECK(server.is_ok());
    server_ = std::move(*server);
    runner_ = std::thread([this] { server_->run(); });
    address_ = "127.0.0.1:" + std::to_string(server_->port());
    auto client = signed_in_client();
    FUZZ_CHECK(client->append(testing::inputs_of(testing::worked_example_events())).is_ok());
  }

  ~Fixture() {
    server_->stop();
    runner_.join();
    server_.reset();
    sequencer_.reset();
    std::filesystem::remove_all(directory_);
  }

  std::unique_ptr<Client> signed_in_client() const {
    auto client = Client::connect(address_);
    FUZZ_CHECK(client.is_ok());
    auto signed_in = (*client)->authenticate(Credentials{token_, "", "", ""});
    if (!signed_in.is_ok()) {
      // Say why. (Twice in CI this was libFuzzer's SIGALRM timer interrupting the client's
      // blocking read, "Interrupted system call"; the client now resumes such calls.)
      std::fprintf(stderr, "the fixture's sign-in failed: %s\n",
                   signed_in.status().to_string().c_str());
    }
    FUZZ_CHECK(signed_in.is_ok());
    return std::move(*client);
  }
  uint16_t port() const { return server_->port(); }

 private:
  std::filesystem::path directory_;
  std::string token_;
  std::unique_ptr<Sequencer> sequencer_;
  std::unique_ptr<Server> server_;
  std::thread runner_;
  std::string address_;
};

Fixture& fixture() {
  // Destroyed at exit (libFuzzer ends with exit()): the server stops, the directory goes.
  static Fixture instance;
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 64 * 1024) return 0;
  Fixture& f = fixture();
  auto client = f.signed_in_client();
  std::string frame;
  for (int shift = 0; shift < 32; shift += 8) frame += static_cast<char>((size >> shift) & 0xff);
  frame.append(reinterpret_cast<const char*>(data), size);
  FUZZ_CHECK(client->send(frame).is_ok());
  // One answer that verifies as a Response (an error for bad bytes), or a close. A valid
  // subscription from past the head is answered only once the log gets there: not waited for.
  auto request = wire::verify_request(std::string_view(frame).substr(4));
  const bool subscription =
      request.is_ok() && (*request)->body_type() == wire::RequestBody::SubscribeRequest;
  if (!subscription) {
    auto answer = client->receive();
    FUZZ_CHECK(answer.is_ok() || answer.status().code() == Code::kUnavailable);
  }
  // The server goes on serving.
  auto probe = Client::connect("127.0.0.1:" + std::to_string(f.port()));
  FUZZ_CHECK(probe.is_ok());
  FUZZ_CHECK((*probe)->hello().is_ok());
  return 0;
}
