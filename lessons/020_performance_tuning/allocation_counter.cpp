// How it is built: lesson 020's allocation counter (a learner can skip the code; the idea is
// in tuning.hpp): the global operator new/delete replaced, to count.
// Every `new`, std::string growth, std::vector push_back and coroutine frame comes here.
// Counting is one relaxed atomic add: cheap enough to leave on while measuring, and safe
// from every thread. In a file of its own so the compiler never inlines the replacement
// into code that calls `delete` (g++ -O3 would then warn about new paired with free).
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "tuning.hpp"

namespace {
std::atomic<std::uint64_t> allocations{0};
}

namespace {
void* counted_malloc(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

// Every form, so that no allocation is made by one library's operator new and freed by ours
// (ASan and TSan bring their own operator new; mixing theirs with ours is a reported error).
// The over-aligned forms (std::align_val_t) are left alone: they stay matched, uncounted.
void* operator new(std::size_t size) {
  if (void* p = counted_malloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return counted_malloc(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return counted_malloc(size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

std::uint64_t lesson020::allocation_count() {
  return allocations.load(std::memory_order_relaxed);
}
