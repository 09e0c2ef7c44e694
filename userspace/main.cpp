// sightline: an eBPF host observer. See README.md.
#include <cstdio>

#include "alerts/channels.h"
#include "config/options.h"
#include "daemon/check.h"
#include "daemon/daemon.h"
#include "daemon/logging.h"
#include "genai/pricing.h"
#include "version.h"

int main(int argc, char** argv) {
  using sightline::config::Command;
  auto parsed = sightline::config::Parse(argc, argv);
  switch (parsed.command) {
    case Command::kExit:
      return parsed.exit_code;
    case Command::kVersion:
      std::printf("sightline %s (%s)\n", sightline::kVersion, sightline::kRevision);
      return 0;
    case Command::kCheck:
      sightline::daemon::SetupLogging("warn", "text");
      return sightline::daemon::RunCheck(parsed.options, stdout);
    case Command::kPricing: {
      const auto& q = parsed.pricing;
      sightline::genai::TokenCounts tokens{.input = q.input,
                                           .cache_read = q.cache_read,
                                           .cache_creation = q.cache_creation,
                                           .output = q.output};
      return sightline::genai::RunPricingCommand(parsed.options.pricing_file, q.provider, q.model,
                                                 tokens, stdout, stderr);
    }
    case Command::kAlertTest:
      return sightline::alerts::RunAlertTest(sightline::alerts::ProcessEnv(),
                                             sightline::alerts::HostName(), stdout, stderr);
    case Command::kRun:
      break;
  }
  sightline::daemon::SetupLogging(parsed.options.log_level, parsed.options.log_format);
  return sightline::daemon::RunDaemon(parsed.options);
}
