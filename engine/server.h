// The socket server (DESIGN.md "Wire protocol"; docs/protocol.md): length-prefixed FlatBuffers
// frames over TCP on Boost.Asio, every inbound frame verified before it is read, pipelined
// requests answered in request order per connection, appends through the Sequencer,
// subscriptions that catch up from the store and then follow the head.
//
// Threads: `io_threads` Asio threads own the sockets (each connection on its own strand); a
// small pool runs blocking reads (Read, Subscribe catch-up, Verify, --as-of queries) against
// the store; the Sequencer thread runs appends and head queries. run() blocks the caller until
// stop(). Thread-safety: stop() and port() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/authenticator.h"
#include "engine/sequencer.h"
#include "projections/status.h"

namespace orgledger {

struct ServerOptions {
  std::string listen = "127.0.0.1:7400";  // HOST:PORT; port 0 picks a free port
  size_t max_frame_bytes = 16 * 1024 * 1024;
  size_t max_connections = 1024;
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  size_t max_pipelined_requests = 4096;  // per connection; reading pauses beyond it
  // A subscriber is cut when it is more than this many records behind the head while one of its
  // writes has been stuck for longer than subscriber_stall_timeout.
  uint64_t max_subscriber_lag = 1'000'000;
  std::chrono::milliseconds subscriber_stall_timeout{std::chrono::seconds(30)};
  int io_threads = 2;
  int blocking_threads = 2;
  // Authentication (docs/security.md): every connection signs in before anything but Hello.
  std::vector<OperatorToken> tokens;  // from the --auth file
  LockoutPolicy lockout;
  // TLS: both set, or neither (plain TCP, for loopback development: a warning is logged when a
  // non-loopback address is served without TLS).
  std::string tls_cert_file;  // PEM certificate chain
  std::string tls_key_file;   // PEM private key
};

class Server {
 public:
  // Binds the listening socket. Unavailable when the address cannot be bound; InvalidArgument
  // when it is not HOST:PORT or the TLS certificate or key cannot be loaded. `sequencer` must
  // outlive the server.
  static Result<std::unique_ptr<Server>> start(Sequencer& sequencer, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (the real one when 0 was asked).
  uint16_t port() const;

  // Serves until stop(); returns once every connection is closed.
  void run();

  // Stops accepting, lets the sequencer finish the group being written (queued appends are
  // answered Unavailable), flushes the answers, closes every connection. Idempotent.
  void stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Splits "HOST:PORT" ("[::1]:7400" for IPv6). InvalidArgument when malformed.
Result<std::pair<std::string, uint16_t>> parse_host_port(std::string_view text);

}  // namespace orgledger
