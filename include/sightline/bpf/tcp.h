/* Kernel/user ABI of the TCP health probe (bpf/tcp.bpf.c): per-process
 * counters of connection lifecycle, failures, retransmits and resets, kept in
 * a hash map keyed by thread-group id that userspace reads about once a
 * second. No per-packet events cross the boundary. */
#ifndef SIGHTLINE_BPF_TCP_H
#define SIGHTLINE_BPF_TCP_H

#include "sightline/bpf/common.h"

/* Why a connection attempt (SYN_SENT -> CLOSE) ended, from the error the
 * kernel recorded on the socket when it gave up. */
enum sl_tcp_failure {
	SL_TCP_FAIL_REFUSED = 0,     /* ECONNREFUSED: a RST answered the SYN */
	SL_TCP_FAIL_TIMEOUT = 1,     /* ETIMEDOUT: SYN retries ran out */
	SL_TCP_FAIL_UNREACHABLE = 2, /* EHOSTUNREACH / ENETUNREACH (ICMP) */
	SL_TCP_FAIL_ABORTED = 3,     /* no error: closed by its owner before the handshake ended */
	SL_TCP_FAIL_OTHER = 4,       /* any other error */
	SL_TCP_FAIL_MAX = 5,
};

/* Value of the `tcp_stats` map (key: __u32 tgid). Every field is cumulative
 * for the life of the entry; userspace takes deltas and deletes the entry
 * once the process is gone. Updated with atomic adds from any CPU. */
struct sl_tcp_stats {
	__u64 opened_active;  /* handshakes completed by connect() (SYN_SENT -> ESTABLISHED) */
	__u64 opened_passive; /* connections returned by accept()/accept4() */
	__u64 closed;         /* opened connections that reached CLOSE */
	__u64 failed[SL_TCP_FAIL_MAX]; /* connect attempts that ended in CLOSE, by enum sl_tcp_failure */
	__u64 retransmits;    /* segments retransmitted (tcp_retransmit_skb, GSO segments counted) */
	__u64 resets_sent;
	__u64 resets_received;
	char comm[16];        /* task name of the owner, when seen in its own context */
};

/* Index into the per-CPU counter array `tcp_counters`, each exported as a
 * sightline_* metric: what the probe could not attribute or store. */
enum sl_tcp_counter {
	SL_TCP_CNT_OWNER_MAP_FULL = 0,   /* sockets whose owner could not be remembered */
	SL_TCP_CNT_STATS_MAP_FULL = 1,   /* events lost: no room for the owner's counters */
	SL_TCP_CNT_UNATTR_OPENED = 2,    /* handshakes completed on sockets of unknown owner */
	SL_TCP_CNT_UNATTR_CLOSED = 3,    /* established connections closed, owner unknown */
	SL_TCP_CNT_UNATTR_FAILED = 4,    /* connect attempts failed, owner unknown */
	SL_TCP_CNT_UNATTR_RETRANSMITS = 5, /* segments retransmitted, owner unknown */
	SL_TCP_CNT_UNATTR_RESETS_SENT = 6, /* RSTs sent on a socket of unknown owner */
	SL_TCP_CNT_UNATTR_RESETS_RECEIVED = 7,
	SL_TCP_CNT_RESETS_SENT_NO_SOCKET = 8, /* RSTs the kernel sent for no socket (closed port) */
	SL_TCP_CNT_MAX = 9,
};

#endif
