#include "engine/sequencer.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <iterator>

namespace orgledger {
namespace {
Status stopped() {
  return Status(Code::kUnavailable, Reason::kNone, "the server is shutting down; retry elsewhere");
}
}  // namespace

Sequencer::Sequencer(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {
  writer_thread_ = std::thread([this] { write_loop(); });
  pthread_setname_np(writer_thread_.native_handle(), "writer");
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "sequencer");
}

Sequencer::~Sequencer() { stop(); }

void Sequencer::append(AppendRequest request, AppendDone done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      appends_.push_back(PendingAppend{std::move(request), std::move(done)});
      wake_.notify_one();
      return;
    }
  }
  AppendOutcome refused;
  refused.status = stopped();
  refused.failed_index = AppendOutcome::kWholeRequest;
  done(std::move(refused));
}

void Sequencer::query(Query query) {
  std::lock_guard lock(mutex_);
  // After stop, queries still run (on the caller's behalf the thread has ended): run none; the
  // caller's connection is being closed anyway.
  if (stopping_) return;
  queries_.push_back(std::move(query));
  wake_.notify_one();
}

void Sequencer::add_commit_listener(CommitListener listener) {
  std::lock_guard lock(mutex_);
  listeners_.push_back(std::move(listener));
}

void Sequencer::stop() {
  std::deque<PendingAppend> refused;
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      refused.swap(appends_);
      queries_.clear();
      wake_.notify_one();
    }
  }
  for (PendingAppend& pending : refused) {
    AppendOutcome outcome;
    outcome.status = stopped();
    outcome.failed_index = AppendOutcome::kWholeRequest;
    pending.done(std::move(outcome));
  }
  // Returns only once the group being written is answered and the thread is gone, so no
  // callback or listener runs after stop() (their owners may go away right after).
  std::lock_guard join_lock(join_mutex_);
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
    {
      std::lock_guard lock(writer_.mutex);
      writer_.quit = true;
    }
    writer_.work_signal.notify_one();
    writer_thread_.join();
  }
}

Status Sequencer::Writer::wait() {
  std::unique_lock lock(mutex);
  done_signal.wait(lock, [&] { return !busy; });
  return result;
}

void Sequencer::start_write(PreparedGroup& group) {
  {
    std::lock_guard lock(mutex_);
    write_finished_ = false;
  }
  {
    std::lock_guard lock(writer_.mutex);
    writer_.group = &group;
    writer_.busy = true;
  }
  writer_.work_signal.notify_one();
}

void Sequencer::write_loop() {
  for (;;) {
    PreparedGroup* group = nullptr;
    {
      std::unique_lock lock(writer_.mutex);
      writer_.work_signal.wait(lock, [&] { return writer_.group != nullptr || writer_.quit; });
      if (writer_.group == nullptr) return;
      group = writer_.group;
    }
    Status written = engine_->write_group(*group);
    {
      std::lock_guard lock(writer_.mutex);
      writer_.group = nullptr;
      writer_.result = std::move(written);
      writer_.busy = false;
    }
    writer_.done_signal.notify_one();
    {
      std::lock_guard lock(mutex_);
      write_finished_ = true;
    }
    wake_.notify_one();
  }
}

void Sequencer::run() {
  // The group being written on the writer thread, and the requests waiting for it.
  struct Writing {
    PreparedGroup group;
    std::vector<PendingAppend> waiting;
  };
  std::unique_ptr<Writing> writing;
  // Answers a finished group's requests; the listeners hear of the head only when it moved.
  auto answer = [&](PreparedGroup& group, std::vector<PendingAppend>& waiting, bool stored,
                    const std::vector<CommitListener>& listeners) {
    for (size_t i = 0; i < waiting.size(); ++i) waiting[i].done(std::move(group.outcomes[i]));
    if (!stored) return;
    for (const CommitListener& listener : listeners) listener(group.head);
  };
  for (;;) {
    std::vector<PendingAppend> group;
    std::deque<Query> queries;
    std::vector<CommitListener> listeners;
    {
      std::unique_lock lock(mutex_);
      if (!writing) {
        wake_.wait(lock, [&] { return stopping_ || !appends_.empty() || !queries_.empty(); });
        if (stopping_ && appends_.empty()) {
          lock.unlock();
          // A checkpoint at the head makes the next start-up replay nothing. Failing to write
          // one only means a longer start-up: it is logged, not fatal.
          if (Status written = engine_->checkpoint(); !written.is_ok()) {
            spdlog::warn("final checkpoint not written: {}", written.to_string());
          }
          return;
        }
      }
      // Group commit: everything waiting now goes into one batch. While a group is being
      // written, the next one is validated meanwhile, unless queries wait (they must see only
      // what is durable) or a checkpoint is due: then the write finishes first.
      const bool drain = writing && (!queries_.empty() || engine_->checkpoint_due());
      if (!drain) {
        group.reserve(appends_.size());
        for (PendingAppend& pending : appends_) group.push_back(std::move(pending));
        appends_.clear();
      }
      listeners = listeners_;
    }
    std::unique_ptr<Writing> next;
    if (!group.empty()) {
      std::vector<AppendRequest> requests;
      requests.reserve(group.size());
      for (PendingAppend& pending : group) requests.push_back(std::move(pending.request));
      next = std::make_unique<Writing>(
          Writing{engine_->prepare_group(std::move(requests)), std::move(group)});
    }
    if (writing) {
      // Until the write finishes, what arrives is validated into the next group as well, so
      // that one sync stores all of it: with many connections sending one event each, groups
      // were otherwise as small as what happened to wait when the previous write started.
      for (;;) {
        std::vector<PendingAppend> more;
        {
          std::unique_lock lock(mutex_);
          auto may_add = [&] {
            return !appends_.empty() && queries_.empty() && !engine_->checkpoint_due();
          };
          wake_.wait(lock, [&] { return write_finished_ || stopping_ || may_add(); });
          if (write_finished_ || stopping_ || !may_add()) break;
          more.reserve(appends_.size());
          for (PendingAppend& pending : appends_) more.push_back(std::move(pending));
          appends_.clear();
        }
        std::vector<AppendRequest> requests;
        requests.reserve(more.size());
        for (PendingAppend& pending : more) requests.push_back(std::move(pending.request));
        PreparedGroup prepared = engine_->prepare_group(std::move(requests));
        if (next) {
          engine_->merge_groups(next->group, std::move(prepared));
          std::move(more.begin(), more.end(), std::back_inserter(next->waiting));
        } else {
          next = std::make_unique<Writing>(Writing{std::move(prepared), std::move(more)});
        }
      }
      const Status written = writer_.wait();
      engine_->finish_group(writing->group, written);
      std::unique_ptr<Writing> finished = std::move(writing);
      if (written.is_ok()) {
        if (next && !next->group.records.empty()) {
          // The next write starts before the answers go out: the disk syncs it meanwhile. (A
          // group with nothing to store is answered below, after these, in request order.)
          writing = std::move(next);
          start_write(writing->group);
        }
        answer(finished->group, finished->waiting, true, listeners);
      } else {
        answer(finished->group, finished->waiting, false, listeners);
        if (next) {
          // The next group was validated on top of the one that failed: it fails too.
          engine_->finish_group(next->group, written);
          answer(next->group, next->waiting, false, listeners);
          next.reset();
        }
      }
    }
    if (next) {
      if (next->group.records.empty()) {
        // Nothing to store (every request refused, or identical retries): answered now.
        engine_->finish_group(next->group, Status::ok());
        answer(next->group, next->waiting, false, listeners);
      } else {
        writing = std::move(next);
        start_write(writing->group);
      }
    }
    if (!writing) {
      // Nothing is being written: the state is the store's, and the queries see it.
      {
        std::lock_guard lock(mutex_);
        queries.swap(queries_);
      }
      for (const Query& query : queries) query(*engine_);
    }
  }
}

}  // namespace orgledger
