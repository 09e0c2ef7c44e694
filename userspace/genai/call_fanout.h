// Hands each finished AI call to every consumer (metrics, access log, alert
// signals) in the order they were added.
#pragma once

#include <vector>

#include "genai/accountant.h"

namespace sightline::genai {

class CallFanout : public CallSink {
 public:
  // `sink` must outlive the fanout.
  void Add(CallSink* sink) { sinks_.push_back(sink); }
  void OnCall(const conn::ConnectionInfo& conn, const Call& call) override {
    for (CallSink* s : sinks_) s->OnCall(conn, call);
  }

 private:
  std::vector<CallSink*> sinks_;
};

}  // namespace sightline::genai
