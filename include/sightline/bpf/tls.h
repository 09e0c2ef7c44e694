/* Kernel/user ABI of the TLS probe (bpf/tls.bpf.c): plaintext read and
 * written through OpenSSL and Go crypto/tls, tied to the socket-probe
 * connection that carries its ciphertext. */
#ifndef SIGHTLINE_BPF_TLS_H
#define SIGHTLINE_BPF_TLS_H

#include "sightline/bpf/common.h"

/* Largest TLS plaintext captured per call; the configured size is at most
 * this. A call's plaintext goes out in events of at most SL_MAX_CAPTURE bytes. */
#define SL_MAX_TLS_CAPTURE (256 * 1024)

enum sl_tls_library {
	SL_TLS_OPENSSL = 1,
	SL_TLS_GO = 2,
};

/* SL_EVENT_TLS_DATA: plaintext of one SSL_read/SSL_write (or crypto/tls
 * Read/Write) call, or one piece of it. cap_len bytes follow the struct. */
struct sl_tls_data_event {
	struct sl_event_header hdr;
	__u64 conn_id;  /* socket-probe connection; 0 while not yet known (an
			 * SL_EVENT_TLS_BIND for tls_id follows once it is) */
	__u64 tls_id;   /* the SSL* or *tls.Conn: the session's identity in the process */
	__u64 seq;      /* offset of the first byte in this direction's plaintext stream */
	__u32 orig_len; /* plaintext bytes this event stands for */
	__u32 cap_len;  /* bytes that follow; orig_len - cap_len were not captured */
	__u32 fd;       /* socket fd when known, else 0xffffffff */
	__u8 direction; /* enum sl_direction */
	__u8 library;   /* enum sl_tls_library */
	__u8 _pad[2];
};

/* SL_EVENT_TLS_BIND: plaintext already sent for tls_id with conn_id 0
 * belongs to this connection (its ciphertext went out after the call
 * returned, as with memory BIOs). conn_id 0: the session's socket is left
 * out by the port filters; what was sent of it is to be discarded. */
struct sl_tls_bind_event {
	struct sl_event_header hdr;
	__u64 conn_id;
	__u64 tls_id;
	__u32 fd;
	__u32 _pad;
};

/* SL_EVENT_PROCESS_EXEC carries only the header: the process replaced its
 * image, so userspace looks at its executable and libraries again. */

/* Index into the TLS probe's per-CPU counter array `tls_counters`. */
enum sl_tls_counter {
	SL_TLS_CNT_LOST_RINGBUF_FULL = 0,  /* plaintext events not emitted */
	SL_TLS_CNT_LOST_READ_FAILED = 1,   /* plaintext could not be read from user memory */
	SL_TLS_CNT_LOST_STATE_FULL = 2,    /* a TLS session or call could not be tracked */
	SL_TLS_CNT_LOST_CONTROL = 3,       /* exec events not emitted */
	SL_TLS_CNT_TRUNCATED_EVENTS = 4,   /* calls whose plaintext was cut */
	SL_TLS_CNT_TRUNCATED_BYTES = 5,    /* plaintext bytes beyond the TLS capture size */
	SL_TLS_CNT_UNBOUND = 6,            /* events sent before their connection was known */
	SL_TLS_CNT_MAX = 7,
};

#endif
