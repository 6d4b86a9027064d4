// The single writer (DESIGN.md "The write path"): one thread, named "sequencer", owns the
// Engine and its registry state. Connections hand it append requests and queries through a
// queue; it drains every waiting request into one group, validates and applies each in order,
// and hands the group to the "writer" thread, which writes it as one synced WriteBatch. While
// that write runs, the sequencer validates what arrives into the next group, on top of it, and
// the writer starts that group as soon as its write returns; the sequencer answers a group
// only once its write is durable (and fails the groups after it too when it is not). Queries
// run only when no group is being written, so a query never sees an event that is not durable.
//
// Thread-safety: every public method may be called from any thread. Callbacks run on the
// sequencer thread and must not block (post their result elsewhere).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/engine.h"

namespace orgledger {

class Sequencer {
 public:
  using AppendDone = std::function<void(AppendOutcome)>;
  using Query = std::function<void(const Engine&)>;
  using CommitListener = std::function<void(const Head&)>;

  // Takes the engine and starts the sequencer thread.
  explicit Sequencer(std::unique_ptr<Engine> engine);
  // Stops (as stop()) and joins the thread.
  ~Sequencer();
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  // Queues an append; `done` receives its outcome after the group it joined is durable (or
  // Unavailable when the sequencer has stopped).
  void append(AppendRequest request, AppendDone done);
  // Queues a query, run on the sequencer thread after the groups queued before it.
  void query(Query query);
  // Called after every durable group with the new head (on the sequencer thread).
  void add_commit_listener(CommitListener listener);

  // Finishes the group being written, answers everything still queued with Unavailable, refuses
  // new work the same way, and returns once the sequencer thread has ended. Idempotent; never
  // call it from a callback (they run on the sequencer thread).
  void stop();

  // The store, for reads from any thread (stored records never change).
  const Store& store() const { return engine_->store(); }
  // The store for the authenticator's writes to the credentials family (the TOTP step last
  // accepted); RocksDB orders them with the sequencer's batches. Never for the log.
  Store& credential_store() { return engine_->credential_store(); }

 private:
  struct PendingAppend {
    AppendRequest request;
    AppendDone done;
  };

  // A group handed to the writer thread, and the requests waiting for its write.
  struct Writing {
    PreparedGroup group;
    std::vector<PendingAppend> waiting;
  };
  using InFlight = std::deque<std::unique_ptr<Writing>>;

  void run();
  void write_loop();
  // Gives each request of a finished group its outcome, in request order.
  static void answer(PreparedGroup& group, std::vector<PendingAppend>& waiting);
  // Answers the groups whose writes finished, oldest first; after a failed write, also the
  // groups handed over after it, unwritten (they were validated on top of it).
  void finish_written(InFlight& in_flight, const std::vector<CommitListener>& listeners);
  // Hands a prepared group to the writer: merged into the last group handed over while the
  // writer has not started that one, else queued behind the write in progress.
  void hand_over(InFlight& in_flight, PreparedGroup prepared, std::vector<PendingAppend> waiting);

  // What the writer thread is given and gives back. It writes the groups of `queued` one after
  // another as long as each write succeeds: the next write starts as soon as the last returns,
  // without waiting for the sequencer thread to be scheduled. After a failed write it holds
  // until the sequencer has taken back the groups queued behind it.
  struct Writer {
    std::mutex mutex;
    std::condition_variable work_signal;
    std::deque<PreparedGroup*> queued;  // guarded by mutex: handed over, not started
    std::deque<Status> results;         // guarded by mutex: finished writes, oldest first
    bool hold = false;                  // guarded by mutex: a write failed
    bool quit = false;                  // guarded by mutex
  };
  std::unique_ptr<Engine> engine_;  // touched only by the sequencer thread after construction
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<PendingAppend> appends_;      // guarded by mutex_
  std::deque<Query> queries_;              // guarded by mutex_
  std::vector<CommitListener> listeners_;  // guarded by mutex_
  bool stopping_ = false;                  // guarded by mutex_
  bool write_finished_ = false;            // guarded by mutex_: writer_.results has news
  std::mutex join_mutex_;                  // serializes joining thread_
  Writer writer_;
  std::thread writer_thread_;
  std::thread thread_;
};

}  // namespace orgledger
