// How it is built: WaiterService, how our own primitives follow the rule asio::steady_timer
// follows when its io_context is destroyed while tasks still wait on it. A learner can skip
// this file at lesson 006 (WaitQueue uses it; lesson 018 teaches custom operations).
//
// A task waiting on a timer is a handler held by the timer's service, and services belong to
// the io_context. Destroying an io_context first shuts its services down, and each destroys
// the handlers it still holds without calling them: the waiting coroutine frames are destroyed
// and their destructors run. A handler held only by a queue of our own is out of the
// io_context's reach: it would never be destroyed (the frame leaks, and with it the primitive
// when the frame shares it), or be destroyed later, by a primitive that outlives the
// io_context, through a dead executor. So every waiter of Part II (lessons 006 to 011) is
// registered here while it waits, exactly as Asio's own services keep their pending operations.
#pragma once

#include <mutex>
#include <set>
#include <utility>

#include <asio/execution/context.hpp>
#include <asio/execution_context.hpp>
#include <asio/query.hpp>

namespace lesson006 {

class WaiterService;

/// The base of a waiter record: registered with the WaiterService of its handler's execution
/// context from construction until release() (it is about to complete) or the context's
/// shutdown, which calls abandon().
class ContextOwned {
 public:
  ContextOwned(const ContextOwned&) = delete;
  ContextOwned& operator=(const ContextOwned&) = delete;

  /// False once the operation has completed or its io_context has destroyed its handler.
  bool pending() const { return service_ != nullptr; }

 protected:
  /// Registers with the service of `executor`'s execution context (the handler's executor).
  template <typename Executor>
  explicit ContextOwned(const Executor& executor);
  virtual ~ContextOwned() { release(); }
  /// Called just before the handler is called: the context need not destroy it any more.
  void release();

 private:
  friend class WaiterService;
  /// Destroys the handler, and the outstanding work it holds, without calling it. Runs once,
  /// when the io_context shuts down. It may destroy this very record (the frame it destroys
  /// may own the primitive that owns the record): touch nothing after destroying the handler.
  virtual void abandon() = 0;

  WaiterService* service_;
};

/// An io_context service (one per context, made on first use) that knows every waiting
/// handler of the context and destroys those still waiting when the context shuts down.
class WaiterService : public asio::execution_context::service {
 public:
  inline static asio::execution_context::id id;  // how use_service<> finds it

  explicit WaiterService(asio::execution_context& context) : service(context) {}

  // A multi-threaded io_context may run primitives on several strands at once: a mutex.
  void add(ContextOwned* waiter) {
    std::lock_guard lock(mutex_);
    waiters_.insert(waiter);
  }
  void remove(ContextOwned* waiter) {
    std::lock_guard lock(mutex_);
    waiters_.erase(waiter);
  }

 private:
  // The io_context's destructor calls this (services made later shut down first, so this
  // runs before the io_context destroys the handlers still queued to run).
  void shutdown() override {
    std::unique_lock lock(mutex_);
    while (!waiters_.empty()) {
      ContextOwned* waiter = *waiters_.begin();
      waiters_.erase(waiters_.begin());
      waiter->service_ = nullptr;
      lock.unlock();  // abandon() may destroy other records, which call remove()
      waiter->abandon();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::set<ContextOwned*> waiters_;
};

template <typename Executor>
ContextOwned::ContextOwned(const Executor& executor)
    : service_(&asio::use_service<WaiterService>(asio::query(executor, asio::execution::context))) {
  service_->add(this);
}

inline void ContextOwned::release() {
  if (service_) std::exchange(service_, nullptr)->remove(this);
}

}  // namespace lesson006
