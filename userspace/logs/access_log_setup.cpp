#include "logs/access_log_setup.h"

#include <unistd.h>

#include <ctime>
#include <random>

namespace sightline::logs {
namespace {

// Bytes of lines waiting for the writer thread: a few seconds of a busy node
// at the default rate limit; past it lines are dropped (queue_full), never
// the event loop blocked.
constexpr size_t kMaxQueuedBytes = 8u << 20;

uint64_t ClockNs(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

}  // namespace

AccessLogStack::~AccessLogStack() {
  sink_.reset();
  writer_.reset();  // joins after writing what is queued
}

std::unique_ptr<AccessLogStack> AccessLogStack::Create(
    const config::Options& o, prometheus::Registry& registry, conn::TransactionSink& next,
    const metrics::RouteNormalizer& routes, process::ProcessTable& processes,
    std::shared_ptr<const genai::PricingTable> pricing, std::string* error) {
  AccessLogOptions ao;
  ao.mode = ParseMode(o.access_log).value_or(Mode::kAll);
  if (ao.mode == Mode::kOff) return nullptr;
  ao.sample_rate = o.access_log_sample_rate;
  ao.min_level = ParseLevel(o.access_log_level).value_or(Level::kInfo);
  ao.environment = o.environment;
  ao.correlation_headers = o.correlation_headers;
  ao.log_headers = o.log_headers;
  ao.rate_limit = o.log_rate_limit;
  ao.max_age_ns = uint64_t(o.idle_timeout_seconds) * 2'000'000'000ull;

  std::vector<std::string> patterns = o.mask_patterns;
  if (!o.mask_file.empty()) {
    auto more = Masker::LoadPatternFile(o.mask_file, error);
    if (!more) return nullptr;
    patterns.insert(patterns.end(), more->begin(), more->end());
  }

  LogClocks clocks{[] { return ClockNs(CLOCK_MONOTONIC); }, [] { return ClockNs(CLOCK_REALTIME); }};
  std::vector<std::unique_ptr<Output>> outputs;
  if (o.log_file.empty()) {
    outputs.push_back(std::make_unique<FdOutput>(STDOUT_FILENO));
  } else {
    auto file = std::make_unique<RotatingFile>(o.log_file, o.log_retention_days, clocks.wall);
    if (!file->ok()) {
      *error = "--log-file: " + file->error();
      return nullptr;
    }
    outputs.push_back(std::move(file));
  }

  std::unique_ptr<AccessLogStack> s(new AccessLogStack());
  s->metrics_ = std::make_unique<LogMetrics>(registry);
  s->containers_ = std::make_unique<ContainerIds>(o.proc_root);
  LogMetrics* m = s->metrics_.get();
  s->writer_ = std::make_unique<AsyncWriter>(std::move(outputs), kMaxQueuedBytes,
                                             [m](uint64_t, uint64_t failed) {
                                               if (failed) m->Dropped("write_error", failed);
                                             });
  AsyncWriter* w = s->writer_.get();
  ContainerIds* containers = s->containers_.get();
  auto mono = clocks.mono;
  std::random_device seed;
  s->sink_ = std::make_unique<AccessLog>(
      std::move(ao), Masker(patterns), next, routes,
      [&processes, mono](const conn::ConnectionInfo& c) -> const process::ProcessInfo& {
        return processes.Lookup(c.pid, c.comm, mono());
      },
      [containers, mono](uint32_t pid) { return containers->Lookup(pid, mono()); },
      std::move(pricing), clocks, [w](std::string line) { return w->Push(std::move(line)); }, *m,
      (uint64_t(seed()) << 32) ^ seed());
  return s;
}

}  // namespace sightline::logs
