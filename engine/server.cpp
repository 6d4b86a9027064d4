#include "engine/server.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "engine/password_hash.h"
#include "engine/transfer.h"
#include "engine/wire.h"
#include "projections/json_writer.h"
#include "replay/fold.h"
#include "replay/record.h"
#include "replay/reports.h"

namespace orgledger {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr size_t kReadBatchRecords = 1000;
constexpr size_t kReadBatchBytes = 4 * 1024 * 1024;
// What one read from a connection takes at most. A larger frame's body past it is read into
// the frame's own buffer.
constexpr size_t kReadBufferBytes = 16 * 1024;

Micros wall_clock_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status invalid(std::string message) {
  return Status(Code::kInvalidArgument, Reason::kInvalidInput, std::move(message));
}

std::string_view text(const flatbuffers::String* value) {
  return value == nullptr ? std::string_view() : value->string_view();
}

// Copies up to a batch of stored records from `from` on.
Result<std::vector<wire::StoredRecordCopy>> read_batch(const Store& store, uint64_t from,
                                                       size_t max_records) {
  std::vector<wire::StoredRecordCopy> records;
  size_t bytes = 0;
  Status scanned =
      store.scan(from, std::numeric_limits<uint64_t>::max(), [&](const StoredRecord& record) {
        records.push_back({record.position, std::string(record.bytes)});
        bytes += record.bytes.size();
        return records.size() >= max_records || bytes >= kReadBatchBytes ? ScanOutcome::kStop
                                                                         : ScanOutcome::kContinue;
      });
  if (!scanned.is_ok()) return scanned;
  return records;
}

std::string document_or_error(uint64_t request_id, const Result<std::string>& document) {
  return document.is_ok() ? wire::document_frame(request_id, *document)
                          : wire::error_frame(request_id, document.status());
}

std::string accounts_json(const Registry& registry, std::string_view org_id) {
  JsonWriter out;
  out.begin_array();
  for (const auto& [id, account] : registry.accounts) {
    const Membership* membership = account.current_membership();
    if (!org_id.empty() && (membership == nullptr || membership->org_id != org_id)) continue;
    out.begin_object()
        .field("account_id", id)
        .field("name", account.name)
        .field("email", account.email)
        .field("status", account_status_name(account.status));
    out.key("org_id");
    membership ? out.value(membership->org_id) : out.null();
    out.end_object();
  }
  out.end_array();
  return out.str() + "\n";
}

}  // namespace

class Session;

// Rendered bills at one head. A bill cannot change until the next commit moves the head, so a
// repeated request is answered without recomputing it. Used only on the sequencer thread.
class BillCache {
 public:
  const wire::SharedDocument* find(const std::string& key, uint64_t head) const {
    if (head != head_) return nullptr;
    auto it = bills_.find(key);
    return it == bills_.end() ? nullptr : &it->second;
  }
  void put(const std::string& key, uint64_t head, const wire::SharedDocument& bill) {
    if (head != head_ || bytes_ + bill.size() > kMaxBytes) {
      bills_.clear();
      bytes_ = 0;
      head_ = head;
    }
    if (bill.size() > kMaxBytes) return;
    bytes_ += bill.size();
    bills_.insert_or_assign(key, bill);
  }

 private:
  static constexpr size_t kMaxBytes = 64 * 1024 * 1024;
  uint64_t head_ = 0;
  size_t bytes_ = 0;
  // The answers, ready to send: a frame's bytes after its request id are shared by every answer
  // (and stay alive while one is being written, even after the cache drops them).
  std::unordered_map<std::string, wire::SharedDocument> bills_;
};

struct Server::Impl {
  Impl(Sequencer& sequencer_in, ServerOptions options_in)
      : sequencer(sequencer_in),
        options(std::move(options_in)),
        acceptor(io),
        blocking(static_cast<size_t>(options.blocking_threads)),
        authenticator(sequencer.credential_store(), options.tokens, options.lockout) {}

  void accept();
  void forget(Session* session);
  void on_commit(const Head& head);

  Sequencer& sequencer;
  ServerOptions options;
  asio::io_context io;
  tcp::acceptor acceptor;
  asio::thread_pool blocking;
  Authenticator authenticator;
  BillCache bills;                        // touched only by sequencer queries
  std::optional<asio::ssl::context> tls;  // set when serving TLS
  std::atomic<bool> stopped{false};
  std::mutex sessions_mutex;
  std::list<std::weak_ptr<Session>> sessions;  // guarded by sessions_mutex
  std::atomic<size_t> connections{0};
};

// One connection. All its state is touched only on its strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& server, tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        strand_(asio::make_strand(server.io)),
        idle_timer_(strand_) {
    boost::system::error_code ignored;
    const auto endpoint = socket_.remote_endpoint(ignored);
    address_ = endpoint.address().to_string();
    peer_ = address_ + ":" + std::to_string(endpoint.port());
    if (server.tls) tls_.emplace(std::move(socket_), *server.tls);
  }

  const std::string& peer() const { return peer_; }

  void start() {
    spdlog::info("connection open peer={}{}", peer_, tls_ ? " tls" : "");
    arm_idle_timer();
    if (!tls_) {
      read_next();
      return;
    }
    // The idle timer bounds the handshake too.
    tls_->async_handshake(
        asio::ssl::stream_base::server,
        asio::bind_executor(strand_, [self = shared_from_this()](boost::system::error_code error) {
          if (error) {
            spdlog::warn("tls handshake failed peer={} error=\"{}\"", self->peer_, error.message());
            self->close("tls handshake failed");
            return;
          }
          self->read_next();
        }));
  }

  // Refuses the connection: one error frame, then close.
  void refuse(const Status& status) {
    asio::post(strand_, [self = shared_from_this(), status] {
      self->close_after_flush_ = true;
      self->enqueue(wire::error_frame(0, status));
    });
  }

  void shutdown() {
    asio::post(strand_, [self = shared_from_this()] {
      self->close_after_flush_ = true;
      if (!self->writing_) self->close("server shutdown");
    });
  }

  void on_head(uint64_t head) {
    asio::post(strand_, [self = shared_from_this(), head] {
      self->known_head_ = std::max(self->known_head_, head);
      if (self->subscribed_ && self->writing_ && self->known_head_ > self->cursor_ &&
          self->known_head_ - self->cursor_ > self->server_.options.max_subscriber_lag &&
          std::chrono::steady_clock::now() - self->write_started_ >
              self->server_.options.subscriber_stall_timeout) {
        // Not even the last batch was taken: the reader is stuck. Its socket is full, so no
        // error frame can get through; the log says why.
        spdlog::warn("subscriber too far behind peer={} cursor={} head={}", self->peer_,
                     self->cursor_, self->known_head_);
        self->close("subscriber too far behind");
        return;
      }
      self->pump_subscription();
    });
  }

 private:
  // Closes the connection once no frame has arrived for the idle timeout while nothing is in
  // flight. Each frame only notes its time (`last_frame_at_`); the timer, armed once, looks at
  // that when it fires and waits again for what is left.
  void arm_idle_timer() {
    const auto timeout = server_.options.idle_timeout;
    if (subscribed_ || in_flight_ > 0) {
      idle_timer_.expires_after(timeout);  // busy, not idle: look again a timeout later
    } else {
      idle_timer_.expires_at(last_frame_at_ + timeout);
    }
    idle_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
      if (error || self->closed_) return;
      if (self->subscribed_ || self->in_flight_ > 0 ||
          std::chrono::steady_clock::now() <
              self->last_frame_at_ + self->server_.options.idle_timeout) {
        self->arm_idle_timer();
        return;
      }
      spdlog::info("connection idle peer={} timeout_ms={}", self->peer_,
                   self->server_.options.idle_timeout.count());
      self->close("idle timeout");
    });
  }

  tcp::socket& lowest() { return tls_ ? tls_->next_layer() : socket_; }

  // Reads what the connection has, at least one byte, into `buffer` (through TLS when it is on).
  template <typename Handler>
  void read_some(asio::mutable_buffer buffer, Handler handler) {
    if (tls_) {
      tls_->async_read_some(buffer, asio::bind_executor(strand_, std::move(handler)));
    } else {
      socket_.async_read_some(buffer, asio::bind_executor(strand_, std::move(handler)));
    }
  }

  // Reads exactly `buffer` from the connection (through TLS when it is on).
  template <typename Handler>
  void read_exactly(asio::mutable_buffer buffer, Handler handler) {
    if (tls_) {
      asio::async_read(*tls_, buffer, asio::bind_executor(strand_, std::move(handler)));
    } else {
      asio::async_read(socket_, buffer, TransferWhole{},
                       asio::bind_executor(strand_, std::move(handler)));
    }
  }

  template <typename Buffers, typename Handler>
  void write_all(const Buffers& buffer, Handler handler) {
    if (tls_) {
      asio::async_write(*tls_, buffer, asio::bind_executor(strand_, std::move(handler)));
    } else {
      asio::async_write(socket_, buffer, TransferWhole{},
                        asio::bind_executor(strand_, std::move(handler)));
    }
  }

  // Takes the next request: from the bytes already read when they hold its header, otherwise
  // after reading what the connection has (as much as fits the buffer, so a burst of small
  // requests costs one read, not two per request). Loops rather than recursing, so a buffer of
  // many small frames does not deepen the stack.
  void read_next() {
    while (true) {
      if (closed_ || close_after_flush_ || held_) return;
      if (in_flight_ >= server_.options.max_pipelined_requests) {
        reading_paused_ = true;  // resumed by complete() once answers drain
        return;
      }
      if (in_end_ - in_begin_ < wire::kFrameHeaderBytes) break;
      if (!take_frame()) return;  // the rest of its body is being read, or it was refused
    }
    // Fewer bytes than a header are left: move them to the front and read after them.
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
    read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
              [self = shared_from_this()](boost::system::error_code error, size_t bytes) {
                if (error) {
                  self->on_read_error(error);
                  return;
                }
                self->in_end_ += bytes;
                self->read_next();
              });
  }

  void on_read_error(boost::system::error_code error) {
    // A TLS client that leaves without close_notify ends the stream "truncated": between
    // frames that is an ordinary close.
    const bool closed_by_peer =
        error == asio::error::eof || error == asio::ssl::error::stream_truncated;
    if (in_end_ > in_begin_) {
      close(closed_by_peer ? "truncated frame" : error.message());
    } else {
      close(closed_by_peer ? "closed by peer" : error.message());
    }
  }

  // Takes the frame whose header starts the buffered bytes. True when it was served from
  // them; false when the rest of its body is being read (it is served once that arrives) or
  // the frame was refused.
  bool take_frame() {
    const uint32_t length = wire::decode_length(in_.data() + in_begin_);
    if (length == 0 || length > server_.options.max_frame_bytes) {
      reject_frame(invalid("frame of " + std::to_string(length) + " bytes is outside 1.." +
                           std::to_string(server_.options.max_frame_bytes)));
      return false;
    }
    if (subscribed_) {
      reject_frame(invalid("this connection carries a subscription and accepts no more requests"));
      return false;
    }
    in_begin_ += wire::kFrameHeaderBytes;
    // A uint64 buffer keeps the FlatBuffer 8-byte aligned.
    body_.resize((length + 7) / 8);
    body_size_ = length;
    const size_t buffered = std::min<size_t>(length, in_end_ - in_begin_);
    std::memcpy(body_.data(), in_.data() + in_begin_, buffered);
    in_begin_ += buffered;
    if (buffered == length) {
      on_frame();
      return true;
    }
    read_exactly(
        asio::buffer(reinterpret_cast<uint8_t*>(body_.data()) + buffered, length - buffered),
        [self = shared_from_this()](boost::system::error_code error, size_t) {
          if (error) {
            self->close(error == asio::error::eof ? "truncated frame" : error.message());
            return;
          }
          self->on_frame();
          self->read_next();
        });
    return false;
  }

  // A frame that cannot be served: answer once, log once, close.
  void reject_frame(const Status& status) {
    spdlog::warn("bad frame peer={} error=\"{}\"", peer_, status.to_string());
    close_after_flush_ = true;
    const uint64_t slot = next_slot_++;
    ++in_flight_;
    complete(slot, wire::error_frame(0, status));
  }

  // A whole frame has arrived: the idle clock restarts, and the frame is served.
  void on_frame() {
    last_frame_at_ = std::chrono::steady_clock::now();
    const std::string_view bytes(reinterpret_cast<const char*>(body_.data()), body_size_);
    auto request = wire::verify_request(bytes);
    if (!request.is_ok()) {
      reject_frame(request.status());
      return;
    }
    const uint64_t slot = next_slot_++;
    ++in_flight_;
    ++requests_;
    dispatch(slot, **request);
  }

  // Answers `slot` later from any thread.
  auto completer(uint64_t slot) {
    return [self = shared_from_this(), slot](wire::OutFrame frame) {
      asio::post(self->strand_, [self, slot, frame = std::move(frame)]() mutable {
        self->complete(slot, std::move(frame));
      });
    };
  }

  void dispatch(uint64_t slot, const wire::Request& request) {
    const uint64_t id = request.request_id();
    auto done = completer(slot);
    const Store& store = server_.sequencer.store();
    const wire::RequestBody type = request.body_type();
    if (type == wire::RequestBody::HelloRequest) {
      // The head is told only to a signed-in connection.
      done(wire::hello_frame(id, principal_ ? store.head()->position : 0));
      return;
    }
    if (type == wire::RequestBody::AuthenticateRequest) {
      authenticate(id, *request.body_as_AuthenticateRequest(), std::move(done));
      return;
    }
    if (!principal_) {
      done(wire::error_frame(
          id, Status(Code::kUnauthenticated, Reason::kAuthenticationRequired,
                     "authenticate first: this connection may only send Hello and Authenticate "
                     "until it has signed in")));
      return;
    }
    const Principal principal = *principal_;
    switch (type) {
      case wire::RequestBody::AppendRequest:
        append(id, *request.body_as_AppendRequest(), std::move(done));
        return;
      case wire::RequestBody::ReadRequest: {
        if (Status allowed = authorize_read_log(principal); !allowed.is_ok()) {
          done(wire::error_frame(id, allowed));
          return;
        }
        const auto& read = *request.body_as_ReadRequest();
        const uint64_t from = std::max<uint64_t>(read.from(), 1);
        const size_t max = read.max() == 0 ? kReadBatchRecords
                                           : std::min<size_t>(read.max(), 100 * kReadBatchRecords);
        asio::post(server_.blocking, [&store, id, from, max, done] {
          auto records = read_batch(store, from, max);
          done(records.is_ok() ? wire::records_frame(id, *records, store.head()->position)
                               : wire::error_frame(id, records.status()));
        });
        return;
      }
      case wire::RequestBody::SubscribeRequest:
        if (Status allowed = authorize_read_log(principal); !allowed.is_ok()) {
          done(wire::error_frame(id, allowed));
          return;
        }
        subscribed_ = true;
        subscription_slot_ = slot;
        subscription_id_ = id;
        cursor_ = std::max<uint64_t>(request.body_as_SubscribeRequest()->from(), 1);
        known_head_ = store.head()->position;
        spdlog::info("subscription peer={} from={}", peer_, cursor_);
        pump_subscription();
        return;
      case wire::RequestBody::GetAccountRequest: {
        const auto& get = *request.body_as_GetAccountRequest();
        const std::string account_id(text(get.account_id()));
        const bool json = get.json();
        Micros now = wall_clock_now();
        if (auto time = parse_time(text(get.as_of())); time.is_ok()) now = *time;
        render(id, text(get.as_of()), std::move(done),
               [account_id, json, now, principal](const Registry& registry) -> Result<std::string> {
                 ORGLEDGER_RETURN_IF_ERROR(authorize_read_account(registry, principal, account_id));
                 return render_account(registry, account_id, json, now);
               });
        return;
      }
      case wire::RequestBody::GetOrganizationRequest: {
        const auto& get = *request.body_as_GetOrganizationRequest();
        const std::string org_id(text(get.org_id()));
        const bool json = get.json();
        Micros now = wall_clock_now();
        if (auto time = parse_time(text(get.as_of())); time.is_ok()) now = *time;
        render(
            id, text(get.as_of()), std::move(done),
            [org_id, json, now, principal](const Registry& registry) -> Result<std::string> {
              ORGLEDGER_RETURN_IF_ERROR(authorize_read_organization(registry, principal, org_id));
              return render_organization(registry, org_id, json, now);
            });
        return;
      }
      case wire::RequestBody::GetBillRequest: {
        const auto& get = *request.body_as_GetBillRequest();
        const std::string payer(text(get.payer()));
        const std::string account_id(text(get.account_id()));
        auto month = parse_month(text(get.month()));
        if (!month.is_ok()) {
          done(wire::error_frame(id, month.status()));
          return;
        }
        if (Status allowed = authorize_read_bill(principal, payer, account_id); !allowed.is_ok()) {
          done(wire::error_frame(id, allowed));
          return;
        }
        const bool json = get.json();
        const bool summary = get.summary();
        if (text(get.as_of()).empty()) {
          // At the head: from the cache while no commit has moved the head.
          const std::string key = payer + '/' + std::to_string(*month) + '/' + account_id +
                                  (json ? "/json" : "/text") + (summary ? "/summary" : "");
          server_.sequencer.query([bills = &server_.bills, id, done, key, payer, month = *month,
                                   json, account_id, summary](const Engine& engine) {
            const uint64_t head = engine.store().head()->position;
            if (const wire::SharedDocument* cached = bills->find(key, head)) {
              done(cached->frame_for(id));
              return;
            }
            auto bill = render_bill(engine.registry(), payer, month, json, account_id, summary);
            if (!bill.is_ok()) {
              done(wire::error_frame(id, bill.status()));
              return;
            }
            const wire::SharedDocument document(*bill);
            bills->put(key, head, document);
            done(document.frame_for(id));
          });
          return;
        }
        render(id, text(get.as_of()), std::move(done),
               [payer, month = *month, json, account_id, summary](const Registry& registry) {
                 return render_bill(registry, payer, month, json, account_id, summary);
               });
        return;
      }
      case wire::RequestBody::ExportFocusRequest: {
        const auto& get = *request.body_as_ExportFocusRequest();
        const std::string payer(text(get.payer()));
        auto month = parse_month(text(get.month()));
        if (!month.is_ok()) {
          done(wire::error_frame(id, month.status()));
          return;
        }
        if (Status allowed = authorize_read_bill(principal, payer, ""); !allowed.is_ok()) {
          done(wire::error_frame(id, allowed));
          return;
        }
        render(id, "", std::move(done),
               [payer, month = *month](const Registry& registry) -> Result<std::string> {
                 if (registry.find_account(payer) == nullptr) {
                   return Status(Code::kNotFound, Reason::kAccountNotFound,
                                 "account \"" + payer + "\" does not exist");
                 }
                 return render_focus(registry, payer, month);
               });
        return;
      }
      case wire::RequestBody::ListAccountsRequest: {
        const std::string org_id(text(request.body_as_ListAccountsRequest()->org_id()));
        render(id, "", std::move(done),
               [org_id, principal](const Registry& registry) -> Result<std::string> {
                 ORGLEDGER_RETURN_IF_ERROR(
                     org_id.empty() ? authorize_read_log(principal)
                                    : authorize_read_organization(registry, principal, org_id));
                 return accounts_json(registry, org_id);
               });
        return;
      }
      case wire::RequestBody::VerifyRequest: {
        if (Status allowed = authorize_read_log(principal); !allowed.is_ok()) {
          done(wire::error_frame(id, allowed));
          return;
        }
        const auto& verify = *request.body_as_VerifyRequest();
        const uint64_t from = verify.from();
        const uint64_t to = verify.to() == 0 ? std::numeric_limits<uint64_t>::max() : verify.to();
        // One thread: a verify must not take the cores the sequencer and writer run on.
        asio::post(server_.blocking, [&store, id, from, to, done] {
          done(wire::verify_frame(id, verify_chain(store, from, to)));
        });
        return;
      }
      case wire::RequestBody::StatsRequest: {
        if (Status allowed = authorize_read_log(principal); !allowed.is_ok()) {
          done(wire::error_frame(id, allowed));
          return;
        }
        const size_t connections = server_.connections.load();
        server_.sequencer.query([id, done, connections](const Engine& engine) {
          JsonWriter out;
          out.begin_object()
              .field("head_position", engine.store().head()->position)
              .field("accounts", static_cast<uint64_t>(engine.registry().accounts.size()))
              .field("organizations", static_cast<uint64_t>(engine.registry().organizations.size()))
              .field("connections", static_cast<uint64_t>(connections));
          // While the store is closed after a failed write, the stats say why instead.
          if (auto work = engine.store().background_work(); work.is_ok()) {
            out.field("running_flushes", work->running_flushes)
                .field("running_compactions", work->running_compactions)
                .field("pending_compaction_bytes", work->pending_compaction_bytes);
          } else {
            out.field("storage_error", work.status().to_string());
          }
          out.end_object();
          done(wire::document_frame(id, out.str() + "\n"));
        });
        return;
      }
      case wire::RequestBody::DigestRequest:
        if (Status allowed = authorize_read_log(principal); !allowed.is_ok()) {
          done(wire::error_frame(id, allowed));
          return;
        }
        server_.sequencer.query([id, done](const Engine& engine) {
          done(wire::digest_frame(id, engine.store().head()->position, digest(engine.registry())));
        });
        return;
      case wire::RequestBody::HelloRequest:
      case wire::RequestBody::AuthenticateRequest:
      case wire::RequestBody::NONE:
        break;
    }
    done(wire::error_frame(id, invalid("unknown request type")));
  }

  // Renders from the head state (on the sequencer thread, consistent with appends) or, with
  // `as_of`, from a replay of the store (on the blocking pool).
  template <typename Render>
  void render(uint64_t id, std::string_view as_of, std::function<void(wire::OutFrame)> done,
              Render render_function) {
    if (as_of.empty()) {
      server_.sequencer.query([id, done, render_function](const Engine& engine) {
        done(document_or_error(id, render_function(engine.registry())));
      });
      return;
    }
    const Store& store = server_.sequencer.store();
    asio::post(server_.blocking, [&store, id, done, render_function, as_of = std::string(as_of)] {
      auto registry = replay_as_of(store, as_of);
      done(registry.is_ok() ? document_or_error(id, render_function(*registry))
                            : wire::error_frame(id, registry.status()));
    });
  }

  // Signs the connection in. The check (argon2id) runs on the blocking pool; reading is held
  // until the answer, so requests pipelined behind an Authenticate are judged by its outcome.
  // A failure is answered only after the delay the lockout policy asks for.
  void authenticate(uint64_t id, const wire::AuthenticateRequest& request,
                    std::function<void(wire::OutFrame)> done) {
    Credentials credentials{
        std::string(text(request.token())), std::string(text(request.account_id())),
        std::string(text(request.password())), std::string(text(request.totp_code()))};
    held_ = true;
    asio::post(server_.blocking, [self = shared_from_this(), id, done,
                                  credentials = std::move(credentials)]() mutable {
      auto outcome =
          self->server_.authenticator.authenticate(credentials, self->address_, wall_clock_now());
      wipe(credentials.password);
      wipe(credentials.token);
      asio::post(self->strand_, [self, id, done, outcome = std::move(outcome)] {
        auto finish = [self, id, done, outcome] {
          if (outcome.status.is_ok()) {
            self->principal_ = outcome.principal;
            done(wire::authenticate_frame(id, outcome.principal.actor(),
                                          std::string(role_name(outcome.principal.role))));
          } else {
            done(wire::error_frame(id, outcome.status));
          }
          self->held_ = false;
          self->read_next();
        };
        if (outcome.delay.count() == 0) {
          finish();
          return;
        }
        auto timer = std::make_shared<asio::steady_timer>(self->strand_, outcome.delay);
        timer->async_wait([timer, finish](boost::system::error_code) { finish(); });
      });
    });
  }

  void append(uint64_t id, const wire::AppendRequest& request,
              std::function<void(wire::OutFrame)> done) {
    AppendRequest append_request;
    append_request.principal = *principal_;
    if (request.expected_head()) append_request.expected_head = *request.expected_head();
    if (request.events() == nullptr || request.events()->size() == 0) {
      done(wire::error_frame(id, invalid("an append carries at least one event")));
      return;
    }
    bool has_password = false;
    for (uint32_t index = 0; index < request.events()->size(); ++index) {
      const wire::AppendEvent* event = request.events()->Get(index);
      if (event->event_id() == nullptr || event->event() == nullptr) {
        done(wire::error_frame(id, invalid("every event needs an event_id and an event"), index));
        return;
      }
      // The verifier accepts a body type whose table is absent; unpacked, it would be an event
      // of that type without its fields. (No type at all, or an unknown one, is judged later.)
      const fb::Event& body = *event->event();
      if (body.body_type() != fb::EventBody::NONE && body.body_type() <= fb::EventBody::MAX &&
          body.body() == nullptr) {
        done(
            wire::error_frame(id,
                              invalid(std::string("an event of type ") +
                                      fb::EnumNameEventBody(body.body_type()) + " carries no body"),
                              index));
        return;
      }
      AppendInput input;
      std::copy(event->event_id()->bytes()->begin(), event->event_id()->bytes()->end(),
                input.event_id.begin());
      // Packed here, in its canonical form; the unpacked event is freed here too, while it is
      // in this thread's cache, instead of on the sequencer once the group is written.
      fb::EventT unpacked;
      event->event()->UnPackTo(&unpacked);
      input.packed = pack_event(unpacked);
      if (const wire::Secret* secret = event->secret()) {
        input.secret = CredentialSecret{std::string(text(secret->password())),
                                        std::string(text(secret->totp_seed())),
                                        std::string(text(secret->code()))};
        has_password = has_password || !input.secret->password.empty();
      }
      append_request.inputs.push_back(std::move(input));
    }
    auto submit = [&sequencer = server_.sequencer, id, done](AppendRequest ready) {
      sequencer.append(std::move(ready), [id, done](AppendOutcome outcome) {
        done(wire::append_frame(id, outcome));
      });
    };
    if (!has_password) {
      submit(std::move(append_request));
      return;
    }
    // argon2id is slow on purpose: hash on the blocking pool, not on the sequencer thread, and
    // hold the connection's later requests until this one is queued, so they follow it.
    held_ = true;
    asio::post(server_.blocking, [self = shared_from_this(), id, done, submit,
                                  append_request = std::move(append_request)]() mutable {
      Status hashed = prepare_secrets(append_request.inputs);
      asio::post(self->strand_, [self, id, done, submit, hashed = std::move(hashed),
                                 append_request = std::move(append_request)]() mutable {
        if (hashed.is_ok()) {
          submit(std::move(append_request));
        } else {
          done(wire::error_frame(id, hashed));
        }
        self->held_ = false;
        self->read_next();
      });
    });
  }

  // Stores the answer of `slot` and sends every answer that is next in request order.
  void complete(uint64_t slot, wire::OutFrame frame) {
    ready_.emplace(slot, std::move(frame));
    --in_flight_;
    while (!ready_.empty() && ready_.begin()->first == next_to_send_) {
      enqueue(std::move(ready_.begin()->second));
      ready_.erase(ready_.begin());
      ++next_to_send_;
    }
    if (reading_paused_ && in_flight_ < server_.options.max_pipelined_requests / 2) {
      reading_paused_ = false;
      read_next();
    }
    pump_subscription();
  }

  void enqueue(wire::OutFrame frame) {
    if (closed_) return;
    write_queue_.push_back(std::move(frame));
    if (!writing_) write_next();
  }

  void write_next() {
    if (write_queue_.empty()) {
      writing_ = false;
      // A subscription's own slot never completes: it does not hold the close back.
      if (close_after_flush_ && (in_flight_ == 0 || subscribed_)) {
        close("closed after the last answer");
      }
      pump_subscription();
      return;
    }
    writing_ = true;
    write_started_ = std::chrono::steady_clock::now();
    const wire::OutFrame& frame = write_queue_.front();
    const std::string_view shared = frame.shared_part();
    write_all(std::array<asio::const_buffer, 2>{asio::buffer(frame.own),
                                                asio::buffer(shared.data(), shared.size())},
              [self = shared_from_this()](boost::system::error_code error, size_t) {
                if (error) {
                  self->close(error.message());
                  return;
                }
                self->write_queue_.pop_front();
                self->write_next();
              });
  }

  // Sends the next batch of a subscription once every earlier answer is out and the previous
  // batch was written: a slow reader holds at most one batch in memory and never slows appends.
  // Being behind is fine (the next batches come from the store); being stuck is not: on_head
  // cuts a subscriber whose write has been stalled too long while it is too far behind.
  void pump_subscription() {
    if (!subscribed_ || closed_ || close_after_flush_ || fetching_ || writing_) return;
    if (next_to_send_ != subscription_slot_) return;
    if (cursor_ > known_head_) return;  // caught up: wait for the next commit
    fetching_ = true;
    const Store& store = server_.sequencer.store();
    asio::post(server_.blocking, [self = shared_from_this(), &store, from = cursor_] {
      auto records = read_batch(store, from, kReadBatchRecords);
      const uint64_t head = store.head()->position;
      asio::post(self->strand_, [self, records = std::move(records), head]() mutable {
        self->fetching_ = false;
        if (!records.is_ok()) {
          self->close_after_flush_ = true;
          self->enqueue(wire::error_frame(self->subscription_id_, records.status()));
          return;
        }
        self->known_head_ = std::max(self->known_head_, head);
        if (!records->empty()) {
          self->cursor_ = records->back().position + 1;
          self->enqueue(wire::records_frame(self->subscription_id_, *records, head));
        } else {
          self->pump_subscription();
        }
      });
    });
  }

  void close(std::string_view why) {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    idle_timer_.cancel();
    lowest().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close(ignored);
    spdlog::info("connection close peer={} requests={} reason=\"{}\"", peer_, requests_, why);
    server_.forget(this);
  }

  Server::Impl& server_;
  tcp::socket socket_;  // moved into tls_ when TLS is on
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
  std::string address_;                 // the peer's IP, for lockouts
  std::optional<Principal> principal_;  // set by a successful Authenticate
  // Reading waits while an Authenticate is checked or a password is hashed, so the requests
  // after it on this connection are judged by its outcome and sequenced after it.
  bool held_ = false;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer idle_timer_;
  std::string peer_;
  // Bytes read from the connection and not yet taken: [in_begin_, in_end_) of in_.
  std::vector<uint8_t> in_ = std::vector<uint8_t>(kReadBufferBytes);
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  std::chrono::steady_clock::time_point last_frame_at_ = std::chrono::steady_clock::now();
  std::vector<uint64_t> body_;
  size_t body_size_ = 0;
  uint64_t next_slot_ = 0;
  uint64_t next_to_send_ = 0;
  size_t in_flight_ = 0;
  uint64_t requests_ = 0;
  std::map<uint64_t, wire::OutFrame> ready_;
  std::deque<wire::OutFrame> write_queue_;
  bool writing_ = false;
  std::chrono::steady_clock::time_point write_started_;  // of the write in flight
  bool reading_paused_ = false;
  bool close_after_flush_ = false;
  bool closed_ = false;
  // Subscription state.
  bool subscribed_ = false;
  bool fetching_ = false;
  uint64_t subscription_slot_ = 0;
  uint64_t subscription_id_ = 0;
  uint64_t cursor_ = 1;
  uint64_t known_head_ = 0;
};

void Server::Impl::accept() {
  acceptor.async_accept(
      asio::make_strand(io), [this](boost::system::error_code error, tcp::socket socket) {
        if (error) {
          if (!stopped) spdlog::warn("accept failed: {}", error.message());
          if (stopped || error == asio::error::operation_aborted) return;
          accept();
          return;
        }
        // Answers go out as soon as they are written: with Nagle's algorithm the tail of a large
        // answer waited for the client's delayed ACK (~40 ms on loopback).
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto session = std::make_shared<Session>(*this, std::move(socket));
        if (connections.load() >= options.max_connections) {
          spdlog::warn("connection refused peer={} reason=\"{} connections already open\"",
                       session->peer(), options.max_connections);
          session->refuse(Status(Code::kResourceExhausted, Reason::kNone,
                                 "too many connections (" +
                                     std::to_string(options.max_connections) + "); retry later"));
        } else {
          ++connections;
          {
            std::lock_guard lock(sessions_mutex);
            sessions.push_back(session);
          }
          session->start();
        }
        accept();
      });
}

void Server::Impl::forget(Session* session) {
  std::lock_guard lock(sessions_mutex);
  for (auto it = sessions.begin(); it != sessions.end();) {
    auto live = it->lock();
    if (live && live.get() != session) {
      ++it;
      continue;
    }
    if (live) --connections;  // each counted session is forgotten once: close() runs once
    it = sessions.erase(it);
  }
}

void Server::Impl::on_commit(const Head& head) {
  std::lock_guard lock(sessions_mutex);
  for (auto& weak : sessions) {
    if (auto session = weak.lock()) session->on_head(head.position);
  }
}

Result<std::pair<std::string, uint16_t>> parse_host_port(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return invalid("\"" + std::string(text) + "\" is not HOST:PORT");
  }
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto port = parse_decimal(text.substr(colon + 1), 0);
  if (!port.is_ok() || *port > 65535) {
    return invalid("\"" + std::string(text.substr(colon + 1)) + "\" is not a port (0-65535)");
  }
  return std::make_pair(host, static_cast<uint16_t>(*port));
}

Result<std::unique_ptr<Server>> Server::start(Sequencer& sequencer, ServerOptions options) {
  auto address = parse_host_port(options.listen);
  if (!address.is_ok()) return address.status();
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return invalid("TLS needs both a certificate (--tls-cert) and its key (--tls-key)");
  }
  auto impl = std::make_unique<Impl>(sequencer, std::move(options));
  boost::system::error_code error;
  const auto ip = asio::ip::make_address(address->first, error);
  if (error) {
    return invalid("\"" + address->first + "\" is not an IP address: " + error.message());
  }
  if (!impl->options.tls_cert_file.empty()) {
    impl->tls.emplace(asio::ssl::context::tls_server);
    impl->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1);
    impl->tls->use_certificate_chain_file(impl->options.tls_cert_file, error);
    if (error) {
      return invalid("cannot load the TLS certificate \"" + impl->options.tls_cert_file +
                     "\": " + error.message());
    }
    impl->tls->use_private_key_file(impl->options.tls_key_file, asio::ssl::context::pem, error);
    if (error) {
      return invalid("cannot load the TLS key \"" + impl->options.tls_key_file +
                     "\": " + error.message());
    }
  } else if (!ip.is_loopback()) {
    spdlog::warn(
        "serving {} without TLS: passwords, tokens and bills cross the network in "
        "clear text; use --tls-cert and --tls-key",
        impl->options.listen);
  }
  if (impl->options.tokens.empty()) {
    spdlog::warn("no operator tokens (--auth): only accounts with a password can sign in");
  }
  const tcp::endpoint endpoint(ip, address->second);
  impl->acceptor.open(endpoint.protocol(), error);
  if (!error) impl->acceptor.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) impl->acceptor.bind(endpoint, error);
  if (!error) impl->acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return Status(Code::kUnavailable, Reason::kNone,
                  "cannot listen on " + impl->options.listen + ": " + error.message());
  }
  Impl* raw = impl.get();
  sequencer.add_commit_listener([raw](const Head& head) {
    if (!raw->stopped) raw->on_commit(head);
  });
  spdlog::info("listening on {}:{}{}", address->first, raw->acceptor.local_endpoint().port(),
               raw->tls ? " (TLS)" : "");
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  stop();
  impl_->blocking.join();
}

uint16_t Server::port() const { return impl_->acceptor.local_endpoint().port(); }

void Server::run() {
  impl_->accept();
  std::vector<std::thread> threads;
  for (int i = 1; i < impl_->options.io_threads; ++i) {
    threads.emplace_back([this] { impl_->io.run(); });
  }
  impl_->io.run();
  for (std::thread& thread : threads) thread.join();
}

void Server::stop() {
  if (impl_->stopped.exchange(true)) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
  });
  // The group being written finishes and queued appends are answered Unavailable; then every
  // connection flushes its answers and closes.
  impl_->sequencer.stop();
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard lock(impl_->sessions_mutex);
    for (auto& weak : impl_->sessions) {
      if (auto session = weak.lock()) open.push_back(session);
    }
  }
  for (auto& session : open) session->shutdown();
}

}  // namespace orgledger
