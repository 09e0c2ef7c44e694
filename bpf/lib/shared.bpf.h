/* Maps shared by the socket probe and the TLS probe. The socket probe
 * creates them; the TLS probe is loaded with the same map fds, so a TLS
 * call can find the connection its ciphertext travels on, and both send
 * their events down one ring buffer in one order. */
#ifndef SIGHTLINE_BPF_LIB_SHARED_H
#define SIGHTLINE_BPF_LIB_SHARED_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "lib/process_filter.bpf.h"
#include "sightline/bpf/common.h"

enum fd_kind {
	FD_IGNORED = 0,  /* not a TCP socket, or a process not observed: nothing to do */
	FD_TCP = 1,
	FD_FILTERED = 2, /* a TCP socket left out by the port filters */
};

struct fd_state {
	__u64 conn_id;
	__u64 seq[2]; /* next stream offset per enum sl_direction */
	__u8 kind;
	__u8 role;
	__u8 protocol;
	__u8 _pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by userspace before load */
} events SEC(".maps");

/* (tgid << 32 | fd) -> state. LRU: an fd the map forgot is rediscovered on
 * its next read or write. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, __u64);
	__type(value, struct fd_state);
} fds SEC(".maps");

/* What a thread is doing with TLS. File descriptors are stored plus one,
 * so that zero (the value of fresh storage) means none. */
struct tls_thread {
	__u64 call_tls;      /* session of the SSL call in progress, 0 when none */
	__u64 call_buf;      /* its plaintext buffer */
	__u64 call_len_ptr;  /* SSL_*_ex: where the byte count is written */
	__u64 pending_write; /* session whose plaintext was written but whose
			      * ciphertext has not reached a socket yet */
	__u32 call_fd1;      /* TLS socket the call in progress did I/O on */
	__u32 last_read_fd1; /* last TLS socket this thread read from */
	__u8 call_dir;       /* enum sl_direction */
	__u8 call_ex;        /* SSL_read_ex / SSL_write_ex */
	__u8 _pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tls_thread);
} tls_threads SEC(".maps");

struct tls_key {
	__u64 tls_id; /* SSL* or *tls.Conn */
	__u32 tgid;
	__u32 _pad;
};

struct tls_session {
	__u64 conn_id; /* 0 until its socket is known */
	__u64 seq[2];  /* next plaintext offset per enum sl_direction */
	__u32 fd;
	__u8 filtered; /* its socket is left out by the port filters: nothing is sent */
	__u8 _pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_key);
	__type(value, struct tls_session);
} tls_sessions SEC(".maps");

static __always_inline void fill_header(struct sl_event_header *h, __u32 type, __u32 size,
					__u64 pid_tgid)
{
	h->timestamp_ns = bpf_ktime_get_ns();
	h->type = type;
	h->size = size;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
}

/* Wake the reader only once enough has accumulated; the reader also polls
 * on a timer, so a quiet trickle is never stranded. */
static __always_inline __u64 sl_ringbuf_flags(__u64 wakeup_bytes)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									      : BPF_RB_NO_WAKEUP;
}

static __always_inline __u64 fd_key(__u32 tgid, __u32 fd)
{
	return ((__u64)tgid << 32) | fd;
}

#endif
