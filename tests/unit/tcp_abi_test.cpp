// Pins the TCP probe's kernel/user ABI: the per-process counters userspace
// reads from the tcp_stats map byte for byte.
#include <gtest/gtest.h>

#include <cstddef>

#include "sightline/bpf/tcp.h"

namespace {

TEST(TcpAbi, StatsLayout) {
  EXPECT_EQ(sizeof(sl_tcp_stats), 104u);
  EXPECT_EQ(offsetof(sl_tcp_stats, opened_active), 0u);
  EXPECT_EQ(offsetof(sl_tcp_stats, opened_passive), 8u);
  EXPECT_EQ(offsetof(sl_tcp_stats, closed), 16u);
  EXPECT_EQ(offsetof(sl_tcp_stats, failed), 24u);
  EXPECT_EQ(sizeof(sl_tcp_stats::failed), 8u * SL_TCP_FAIL_MAX);
  EXPECT_EQ(offsetof(sl_tcp_stats, retransmits), 64u);
  EXPECT_EQ(offsetof(sl_tcp_stats, resets_sent), 72u);
  EXPECT_EQ(offsetof(sl_tcp_stats, resets_received), 80u);
  EXPECT_EQ(offsetof(sl_tcp_stats, comm), 88u);
  EXPECT_EQ(sizeof(sl_tcp_stats::comm), 16u);
}

TEST(TcpAbi, EnumsKeepTheirValues) {
  EXPECT_EQ(SL_TCP_FAIL_REFUSED, 0);
  EXPECT_EQ(SL_TCP_FAIL_TIMEOUT, 1);
  EXPECT_EQ(SL_TCP_FAIL_UNREACHABLE, 2);
  EXPECT_EQ(SL_TCP_FAIL_ABORTED, 3);
  EXPECT_EQ(SL_TCP_FAIL_OTHER, 4);
  EXPECT_EQ(SL_TCP_FAIL_MAX, 5);
  EXPECT_EQ(SL_TCP_CNT_OWNER_MAP_FULL, 0);
  EXPECT_EQ(SL_TCP_CNT_STATS_MAP_FULL, 1);
  EXPECT_EQ(SL_TCP_CNT_RESETS_SENT_NO_SOCKET, 8);
  EXPECT_EQ(SL_TCP_CNT_MAX, 9);
}

}  // namespace
