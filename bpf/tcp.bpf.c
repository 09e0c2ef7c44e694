// SPDX-License-Identifier: GPL-2.0
/* TCP health per process: connections opened, closed and failed, segments
 * retransmitted, resets sent and received, counted in a hash map keyed by
 * thread-group id that userspace reads about once a second. Nothing is sent
 * per packet.
 *
 * Most of these events happen in softirq or timer context, where `current`
 * is whoever was interrupted, not the socket's owner. So the owner of a
 * socket is learnt where it is certain (CLOSE -> SYN_SENT runs in the
 * connecting task; accept() returns in the accepting task), kept in `owners`
 * by socket address, and looked up by every later event on that socket. The
 * entry goes when the socket is destroyed, not when it reaches CLOSE: a
 * zero-linger close moves to CLOSE first and sends its RST after.
 *
 * Raw tracepoints: their arguments (the socket first) have been stable for
 * years, where the formatted records of tcp_send_reset and
 * tcp_retransmit_skb changed shape across kernel versions. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "lib/process_filter.bpf.h"
#include "lib/socket.bpf.h"
#include "sightline/bpf/tcp.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by userspace between open and load. */
const volatile __u32 self_tgid = 0;
const volatile __u8 filter_pids = 0; /* only tgids in pid_allow */

/* uapi and kernel constants vmlinux.h does not carry. */
#define SL_ECONNREFUSED 111
#define SL_ETIMEDOUT 110
#define SL_EHOSTUNREACH 113
#define SL_ENETUNREACH 101
#define SL_SOL_SOCKET 1
#define SL_SO_ERROR 4

enum owner_flags {
	OWNER_CONNECTING = 1, /* SYN sent, handshake not finished */
	OWNER_OPEN = 2,	      /* established and counted as opened: its CLOSE counts */
	OWNER_IGNORED = 4,    /* the daemon itself, or a process not observed */
	OWNER_RESET = 8,      /* a RST arrived while connecting */
};

struct sk_owner {
	__u32 tgid;
	__u8 flags; /* enum owner_flags */
	__u8 _pad;
	__u16 err; /* error seen while connecting, before anything cleared it */
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_TCP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tcp_counters SEC(".maps");

/* struct sock address -> owner. Not LRU: an evicted owner would turn its
 * socket's events into silent misattributions; a full map is counted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 131072); /* resized by userspace before load */
	__type(key, __u64);
	__type(value, struct sk_owner);
} owners SEC(".maps");

/* tgid -> cumulative counters; userspace deletes entries of exited processes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct sl_tcp_stats);
} tcp_stats SEC(".maps");

/* Only to test, at load time, whether tcp_retransmit_skb passes an error
 * (kernels since 6.12 fire it for failed attempts too). */
struct trace_event_raw_tcp_retransmit_skb___sl {
	int err;
} __attribute__((preserve_access_index));

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&tcp_counters, &idx);
	if (v)
		*v += n;
}

static __always_inline bool observed(__u32 tgid)
{
	return tgid != self_tgid && tgid_observed(tgid, filter_pids);
}

/* Records the current task as the owner of `sk`. Process context only. */
static __always_inline struct sk_owner *remember(const void *sk, __u8 flags)
{
	__u64 key = (__u64)sk;
	struct sk_owner o = {.tgid = bpf_get_current_pid_tgid() >> 32, .flags = flags};
	if (!observed(o.tgid))
		o.flags = OWNER_IGNORED;
	bpf_get_current_comm(o.comm, sizeof(o.comm));
	if (bpf_map_update_elem(&owners, &key, &o, BPF_ANY)) {
		count(SL_TCP_CNT_OWNER_MAP_FULL, 1);
		return NULL;
	}
	return bpf_map_lookup_elem(&owners, &key);
}

static __always_inline struct sk_owner *owner_of(const void *sk)
{
	__u64 key = (__u64)sk;
	return bpf_map_lookup_elem(&owners, &key);
}

/* The counters of `o`'s process, created on first use. NULL (and counted)
 * when the map is full. */
static __always_inline struct sl_tcp_stats *stats_of(const struct sk_owner *o)
{
	__u32 tgid = o->tgid;
	struct sl_tcp_stats *s = bpf_map_lookup_elem(&tcp_stats, &tgid);
	if (s)
		return s;
	struct sl_tcp_stats fresh = {};
	__builtin_memcpy(fresh.comm, o->comm, sizeof(fresh.comm));
	/* Another CPU may create it first: NOEXIST failing is then fine. */
	bpf_map_update_elem(&tcp_stats, &tgid, &fresh, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&tcp_stats, &tgid);
	if (!s)
		count(SL_TCP_CNT_STATS_MAP_FULL, 1);
	return s;
}

#define ADD(o, field, n)                                                                           \
	do {                                                                                       \
		struct sl_tcp_stats *__s = stats_of(o);                                            \
		if (__s)                                                                           \
			__sync_fetch_and_add(&__s->field, (n));                                    \
	} while (0)

/* Per-socket event: to its owner's counters, or to an unattributed counter. */
#define ATTRIBUTE(sk, field, n, unattributed)                                                      \
	do {                                                                                       \
		struct sk_owner *__o = owner_of(sk);                                               \
		if (!__o)                                                                          \
			count((unattributed), (n));                                                \
		else if (!(__o->flags & OWNER_IGNORED))                                            \
			ADD(__o, field, (n));                                                      \
	} while (0)

/* Why a connect ended. sk_err alone is not enough: getsockopt(SO_ERROR)
 * hands the owner sk_err, or else the soft error (an ICMP error that came
 * while the socket was busy), and clears it; an owner that then gives up
 * closes a socket with no error left on it. So the error is also kept when
 * it is reported and when the owner reads it, and a RST seen while
 * connecting is remembered. */
static __always_inline __u32 failure_reason(const struct sock *sk, const struct sk_owner *o)
{
	if (o->flags & OWNER_RESET)
		return SL_TCP_FAIL_REFUSED;
	int err = BPF_CORE_READ(sk, sk_err);
	if (!err)
		err = o->err;
	if (!err)
		err = BPF_CORE_READ(sk, sk_err_soft);
	switch (err) {
	case 0:
		return SL_TCP_FAIL_ABORTED;
	case SL_ECONNREFUSED:
		return SL_TCP_FAIL_REFUSED;
	case SL_ETIMEDOUT:
		return SL_TCP_FAIL_TIMEOUT;
	case SL_EHOSTUNREACH:
	case SL_ENETUNREACH:
		return SL_TCP_FAIL_UNREACHABLE;
	default:
		return SL_TCP_FAIL_OTHER;
	}
}

/* args: const struct sock *sk, int oldstate, int newstate */
SEC("raw_tracepoint/inet_sock_set_state")
int sl_tcp_set_state(struct bpf_raw_tracepoint_args *ctx)
{
	const struct sock *sk = (const struct sock *)ctx->args[0];
	int old = ctx->args[1];
	int new = ctx->args[2];
	if (BPF_CORE_READ(sk, sk_protocol) != SL_IPPROTO_TCP)
		return 0;

	if (old == TCP_CLOSE && new == TCP_SYN_SENT) {
		/* connect() in the connecting task's own context. */
		remember(sk, OWNER_CONNECTING);
		return 0;
	}
	if (new == TCP_ESTABLISHED) {
		struct sk_owner *o = owner_of(sk);
		if (o && (o->flags & OWNER_CONNECTING)) {
			o->flags = (o->flags & ~OWNER_CONNECTING) | OWNER_OPEN;
			if (!(o->flags & OWNER_IGNORED))
				ADD(o, opened_active, 1);
		} else if (!o && old == TCP_SYN_SENT) {
			count(SL_TCP_CNT_UNATTR_OPENED, 1);
		}
		/* SYN_RECV -> ESTABLISHED of a passive socket: counted at accept(). */
		return 0;
	}
	if (new != TCP_CLOSE)
		return 0;

	struct sk_owner *o = owner_of(sk);
	if (old == TCP_SYN_SENT) {
		if (!o) {
			count(SL_TCP_CNT_UNATTR_FAILED, 1);
		} else if (o->flags & OWNER_CONNECTING) {
			o->flags &= ~OWNER_CONNECTING;
			if (!(o->flags & OWNER_IGNORED)) {
				__u32 r = failure_reason(sk, o);
				struct sl_tcp_stats *s = stats_of(o);
				if (s && r < SL_TCP_FAIL_MAX)
					__sync_fetch_and_add(&s->failed[r], 1);
			}
		}
		return 0;
	}
	if (o) {
		if (o->flags & OWNER_OPEN) {
			o->flags &= ~OWNER_OPEN;
			if (!(o->flags & OWNER_IGNORED))
				ADD(o, closed, 1);
		}
		return 0;
	}
	/* Listeners closing and handshakes never accepted are not connections. */
	if (old != TCP_LISTEN && old != TCP_SYN_RECV && old != TCP_NEW_SYN_RECV && old != TCP_CLOSE)
		count(SL_TCP_CNT_UNATTR_CLOSED, 1);
	return 0;
}

/* accept() returns in the accepting task: the one place a passive socket
 * meets its owner. */
static __always_inline void accepted(long ret)
{
	if (ret < 0)
		return;
	struct socket *sock = sl_fd_to_socket(ret);
	if (!sock)
		return;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != SL_IPPROTO_TCP ||
	    BPF_CORE_READ(sk, sk_type) != SL_SOCK_STREAM)
		return;
	struct sk_owner *o = remember(sk, OWNER_OPEN);
	if (o && !(o->flags & OWNER_IGNORED))
		ADD(o, opened_passive, 1);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int sl_tcp_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	accepted(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int sl_tcp_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	accepted(ctx->ret);
	return 0;
}

/* args: const struct sock *sk, const struct sk_buff *skb[, int err] */
SEC("raw_tracepoint/tcp_retransmit_skb")
int sl_tcp_retransmit(struct bpf_raw_tracepoint_args *ctx)
{
	/* A negative error: the attempt failed inside this host's stack
	 * (mostly before the segment was built). Positive values are qdisc
	 * verdicts on a segment that did leave TCP. */
	if (bpf_core_field_exists(struct trace_event_raw_tcp_retransmit_skb___sl, err) &&
	    (int)ctx->args[2] < 0)
		return 0;
	const struct sock *sk = (const struct sock *)ctx->args[0];
	const struct sk_buff *skb = (const struct sk_buff *)ctx->args[1];
	/* One skb may carry several MSS-sized segments; the kernel's own
	 * TcpRetransSegs adds tcp_skb_pcount(skb), the GSO segment count kept
	 * in the skb's control block. */
	const struct tcp_skb_cb *cb = (const void *)skb + bpf_core_field_offset(struct sk_buff, cb);
	__u64 segs = BPF_CORE_READ(cb, tcp_gso_segs);
	if (segs == 0)
		segs = 1;
	ATTRIBUTE(sk, retransmits, segs, SL_TCP_CNT_UNATTR_RETRANSMITS);
	return 0;
}

/* args: const struct sock *sk, const struct sk_buff *skb[, reason]. sk is
 * NULL for a RST that answers a segment no socket wanted (closed port). */
SEC("raw_tracepoint/tcp_send_reset")
int sl_tcp_send_reset(struct bpf_raw_tracepoint_args *ctx)
{
	const void *sk = (const void *)ctx->args[0];
	if (!sk) {
		count(SL_TCP_CNT_RESETS_SENT_NO_SOCKET, 1);
		return 0;
	}
	ATTRIBUTE(sk, resets_sent, 1, SL_TCP_CNT_UNATTR_RESETS_SENT);
	return 0;
}

/* args: struct sock *sk. Fires before the socket moves to CLOSE. */
SEC("raw_tracepoint/tcp_receive_reset")
int sl_tcp_receive_reset(struct bpf_raw_tracepoint_args *ctx)
{
	const void *sk = (const void *)ctx->args[0];
	struct sk_owner *o = owner_of(sk);
	if (o && (o->flags & OWNER_CONNECTING))
		o->flags |= OWNER_RESET;
	ATTRIBUTE(sk, resets_received, 1, SL_TCP_CNT_UNATTR_RESETS_RECEIVED);
	return 0;
}

/* args: const struct sock *sk. An error reported on a socket (ICMP
 * unreachable, timeout, reset); kept while connecting, see failure_reason. */
SEC("raw_tracepoint/inet_sk_error_report")
int sl_tcp_error_report(struct bpf_raw_tracepoint_args *ctx)
{
	const struct sock *sk = (const struct sock *)ctx->args[0];
	struct sk_owner *o = owner_of(sk);
	if (!o || !(o->flags & OWNER_CONNECTING))
		return 0;
	int err = BPF_CORE_READ(sk, sk_err);
	if (err > 0 && err < 65536)
		o->err = err;
	return 0;
}

/* getsockopt(fd, SOL_SOCKET, SO_ERROR): what a non-blocking connect()
 * learns, read before the kernel clears it. */
SEC("tracepoint/syscalls/sys_enter_getsockopt")
int sl_tcp_getsockopt(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[1] != SL_SOL_SOCKET || ctx->args[2] != SL_SO_ERROR)
		return 0;
	struct socket *sock = sl_fd_to_socket(ctx->args[0]);
	if (!sock)
		return 0;
	const struct sock *sk = BPF_CORE_READ(sock, sk);
	struct sk_owner *o = sk ? owner_of(sk) : NULL;
	if (!o || !(o->flags & OWNER_CONNECTING))
		return 0;
	int err = BPF_CORE_READ(sk, sk_err);
	if (!err)
		err = BPF_CORE_READ(sk, sk_err_soft);
	if (err > 0 && err < 65536)
		o->err = err;
	return 0;
}

/* args: struct sock *sk. The last event of a full socket. */
SEC("raw_tracepoint/tcp_destroy_sock")
int sl_tcp_destroy(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 key = ctx->args[0];
	bpf_map_delete_elem(&owners, &key);
	return 0;
}
