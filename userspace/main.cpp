// sightline: an eBPF host observer. See README.md.
#include <cstdio>

#include "config/options.h"
#include "daemon/check.h"
#include "daemon/daemon.h"
#include "daemon/logging.h"
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
    case Command::kRun:
      break;
  }
  sightline::daemon::SetupLogging(parsed.options.log_level, parsed.options.log_format);
  return sightline::daemon::RunDaemon(parsed.options);
}
