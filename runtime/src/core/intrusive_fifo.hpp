// IntrusiveFifo: a singly-linked FIFO of processes threaded through Process::link. Not
// synchronised: its owner (a lock, or one worker) says who may touch it.
#pragma once

#include "core/process.hpp"

namespace ergon::detail {

class IntrusiveFifo {
 public:
  void push(Process* p) noexcept {
    p->link = nullptr;
    if (tail_ == nullptr) {
      head_ = p;
    } else {
      tail_->link = p;
    }
    tail_ = p;
  }
  void push_front(Process* p) noexcept {
    p->link = head_;
    head_ = p;
    if (tail_ == nullptr) tail_ = p;
  }
  Process* pop() noexcept {
    Process* p = head_;
    if (p == nullptr) return nullptr;
    head_ = p->link;
    if (head_ == nullptr) tail_ = nullptr;
    p->link = nullptr;
    return p;
  }
  bool empty() const noexcept { return head_ == nullptr; }

 private:
  Process* head_ = nullptr;
  Process* tail_ = nullptr;
};

}  // namespace ergon::detail
